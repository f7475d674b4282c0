package dmd_test

import (
	"context"
	"fmt"
	"os"

	"github.com/concord-health/concord/terminology"
	"github.com/concord-health/concord/terminology/dmd"
)

// A release is loaded from its XML once and saved; later starts open the saved index and
// plug it into the terminology service.
func Example() {
	ctx := context.Background()
	dataDir, _ := os.MkdirTemp("", "concord")
	defer os.RemoveAll(dataDir)

	r, err := dmd.Load(ctx, []string{"testdata/release"}, dmd.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Save(dataDir); err != nil {
		fmt.Println(err)
		return
	}

	r, err = dmd.Open(dataDir)
	if err != nil {
		fmt.Println(err)
		return
	}
	ts := terminology.New()
	ts.AddProvider(dmd.NewProvider(r))

	res, err := ts.LookupCode(ctx, dmd.System, "", "322236009")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Name, res.Version, res.Display)
	for _, p := range res.Properties {
		switch p.Code {
		case "class", "strength", "form", "child":
			fmt.Println(p.Code, p.Value)
		}
	}
	sub, _ := ts.Subsumes(ctx, dmd.System, "90332006", "307111000001104")
	fmt.Println("Paracetamol", sub, "an Accord pack of 32 tablets")
	// Output:
	// dm+d 2024-05-20 Paracetamol 500mg tablets
	// class VMP
	// child 108971000001101
	// child 108981000001104
	// child 205511000001107
	// child 205521000001103
	// strength Paracetamol 500 mg
	// form Tablet
	// Paracetamol subsumes an Accord pack of 32 tablets
}
