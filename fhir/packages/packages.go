// Package packages reads FHIR packages: the .tgz archives the FHIR package registries
// publish (package/package.json and the resources beside it), or a folder of JSON and XML
// resources such as an implementation guide's source. It keeps the conformance resources
// a server loads (profiles, terminology, search parameters…) and reports files it cannot
// read without giving up on the rest.
package packages

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/concord-health/concord/fhir"
)

// Package is what a package holds: its manifest and its resources.
type Package struct {
	Name         string
	Version      string
	FHIRVersions []string
	Dependencies map[string]string
	// Resources are the resources kept, in file order.
	Resources []*fhir.Resource
	// Problems lists the files that could not be read, as "file: reason".
	Problems []string
}

// Options says what Load keeps and how much it reads. Zero values take the defaults.
type Options struct {
	// AllResources keeps every resource, not only the conformance resources.
	AllResources bool
	// MaxFiles, MaxFileSize and MaxTotalSize bound what is read, against archives built
	// to exhaust memory: a package over them fails to load; a single file over
	// MaxFileSize is a problem and skipped.
	MaxFiles     int
	MaxFileSize  int64
	MaxTotalSize int64
}

// The defaults are well above the largest published packages (hl7.fhir.r4.core holds
// some 4,600 files and 150 MB unpacked, examples included).
const (
	DefaultMaxFiles     = 50000
	DefaultMaxFileSize  = 64 << 20
	DefaultMaxTotalSize = 1 << 30
)

// Conformance lists the resource types Load keeps by default.
var Conformance = map[string]bool{
	"StructureDefinition": true, "ValueSet": true, "CodeSystem": true, "ConceptMap": true,
	"SearchParameter": true, "NamingSystem": true, "CapabilityStatement": true,
	"OperationDefinition": true, "ImplementationGuide": true,
}

// ErrTooLarge is returned for a package beyond the size limits.
var ErrTooLarge = errors.New("packages: package too large")

// Load reads a package from a .tgz file or a folder, keeping its conformance resources.
func Load(path string) (*Package, error) { return LoadWith(path, Options{}) }

// LoadWith reads a package as Load does, with options.
func LoadWith(p string, opt Options) (*Package, error) {
	if opt.MaxFiles <= 0 {
		opt.MaxFiles = DefaultMaxFiles
	}
	if opt.MaxFileSize <= 0 {
		opt.MaxFileSize = DefaultMaxFileSize
	}
	if opt.MaxTotalSize <= 0 {
		opt.MaxTotalSize = DefaultMaxTotalSize
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	l := &loader{opt: opt, pkg: &Package{Dependencies: map[string]string{}}}
	if fi.IsDir() {
		err = l.folder(p)
	} else {
		err = l.archive(p)
	}
	if err != nil {
		return nil, err
	}
	return l.pkg, nil
}

type loader struct {
	opt   Options
	pkg   *Package
	files int
	total int64
}

// count charges one file against the limits; a file too large on its own is reported
// and skipped (false).
func (l *loader) count(name string, size int64) (bool, error) {
	l.files++
	l.total += size
	if l.files > l.opt.MaxFiles {
		return false, fmt.Errorf("%w: more than %d files", ErrTooLarge, l.opt.MaxFiles)
	}
	if l.total > l.opt.MaxTotalSize {
		return false, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.opt.MaxTotalSize)
	}
	if size > l.opt.MaxFileSize {
		l.problem(name, fmt.Errorf("%d bytes, more than the %d allowed", size, l.opt.MaxFileSize))
		return false, nil
	}
	return true, nil
}

func (l *loader) problem(name string, err error) {
	l.pkg.Problems = append(l.pkg.Problems, name+": "+err.Error())
}

// archive reads a package .tgz: package/package.json and the resources directly in
// package/; its subfolders (example/, other/, openapi/, xml/…) hold no conformance
// resources of the package and are skipped.
func (l *loader) archive(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("packages: %s: %w", p, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("packages: %s: %w", p, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		dir, base := path.Split(name)
		// Skipped entries are still decompressed, so every entry counts.
		ok, err := l.count(name, h.Size)
		if err != nil {
			return err
		}
		if !ok || h.Typeflag != tar.TypeReg || dir != "package/" || !isResourceFile(base) {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size))
		if err != nil {
			return fmt.Errorf("packages: %s: %s: %w", p, name, err)
		}
		if base == "package.json" {
			l.manifest(name, data)
			continue
		}
		l.resource(name, data)
	}
}

// folder reads every JSON and XML file under dir, and dir/package.json as the manifest.
// An unpacked archive (dir/package/package.json) is read from its package folder. Folders
// of examples are skipped, as in archives.
func (l *loader) folder(dir string) error {
	if fi, err := os.Stat(filepath.Join(dir, "package", "package.json")); err == nil && fi.Mode().IsRegular() {
		dir = filepath.Join(dir, "package")
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if p != dir && (strings.HasPrefix(name, ".") || d.IsDir() && isExamples(name)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // .index.json and editor files
		}
		if d.IsDir() || !d.Type().IsRegular() || !isResourceFile(name) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		ok, err := l.count(rel, fi.Size())
		if err != nil || !ok {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			l.problem(rel, err)
			return nil
		}
		if rel == "package.json" {
			l.manifest(rel, data)
			return nil
		}
		l.resource(rel, data)
		return nil
	})
}

func isExamples(dir string) bool {
	dir = strings.ToLower(dir)
	return dir == "example" || dir == "examples"
}

func isResourceFile(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return (ext == ".json" || ext == ".xml") && !strings.HasPrefix(name, ".")
}

func (l *loader) manifest(name string, data []byte) {
	var m struct {
		Name         string            `json:"name"`
		Version      string            `json:"version"`
		FHIRVersions []string          `json:"fhirVersions"`
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		l.problem(name, err)
		return
	}
	l.pkg.Name, l.pkg.Version, l.pkg.FHIRVersions = m.Name, m.Version, m.FHIRVersions
	for k, v := range m.Dependencies {
		l.pkg.Dependencies[k] = v
	}
}

// resource parses one file if it holds a resource of a type to keep; other files are
// skipped without a word.
func (l *loader) resource(name string, data []byte) {
	isXML := strings.EqualFold(path.Ext(name), ".xml")
	var typ string
	if isXML {
		var err error
		if typ, err = xmlRoot(data); err != nil {
			l.problem(name, err)
			return
		}
	} else {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(data, &head); err != nil {
			l.problem(name, err)
			return
		}
		typ = head.ResourceType
	}
	if typ == "" || !l.opt.AllResources && !Conformance[typ] {
		return
	}
	parse := fhir.Parse
	if isXML {
		parse = fhir.ParseXML
	}
	res, err := parse(data)
	if err != nil {
		l.problem(name, err)
		return
	}
	l.pkg.Resources = append(l.pkg.Resources, res)
}

// xmlRoot returns the name of the root element of an XML document.
func xmlRoot(data []byte) (string, error) {
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return "", err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local, nil
		}
	}
}
