package mllp_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/concord-health/concord/integration/hl7v2"
	"github.com/concord-health/concord/integration/mllp"
)

// A listener that acknowledges every message, negatively when it cannot be
// parsed.
func ExampleServer() {
	srv := &mllp.Server{Handler: func(ctx context.Context, c mllp.ConnInfo, data []byte) []byte {
		m, err := hl7v2.Parse(data)
		if err != nil {
			hdr, _ := hl7v2.ParseHeader(data) // nil when even MSH is unreadable
			return hl7v2.NewACK(hdr, hl7v2.ApplicationReject, hl7v2.WithError(err)).Encode()
		}
		return hl7v2.NewACK(m, hl7v2.ApplicationAccept).Encode()
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	cl, err := mllp.Dial(context.Background(), ln.Addr().String(), nil)
	if err != nil {
		panic(err)
	}
	defer cl.Close()
	for _, msg := range []string{
		"MSH|^~\\&|PAS|RIV|EPR|ROYAL|20240102||ADT^A01^ADT_A01|MSG1|P|2.5.1\rPID|1\r",
		"MSH|^~\\&|PAS|RIV|EPR|ROYAL|20240102||ADT^A01^ADT_A01|MSG2|P|2.5.1\rPIDX|1\r",
	} {
		reply, err := cl.Send(context.Background(), []byte(msg))
		if err != nil {
			panic(err)
		}
		ack, _ := hl7v2.Parse(reply)
		fmt.Println(strings.TrimSpace(fmt.Sprintln(ack.Get("MSA-1"), ack.Get("MSA-2"), ack.Get("ERR-3.1"), ack.Get("ERR-2.1"))))
	}
	srv.Shutdown(context.Background())
	fmt.Println(errors.Is(<-served, mllp.ErrServerClosed))
	// Output:
	// AA MSG1
	// AR MSG2 100 PIDX
	// true
}
