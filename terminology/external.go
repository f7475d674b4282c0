package terminology

import "fmt"

// externalSystems names the code systems that FHIR resources use but that are defined
// outside FHIR and are too large, licensed, or grammar-based to be held as CodeSystem
// resources. Until a provider for one is added, codes from it cannot be decided.
var externalSystems = map[string]string{
	"http://snomed.info/sct":                                  "SNOMED CT",
	"http://loinc.org":                                        "LOINC",
	"http://unitsofmeasure.org":                               "UCUM",
	"urn:ietf:bcp:47":                                         "BCP-47 language tags",
	"urn:ietf:bcp:13":                                         "BCP-13 mime types",
	"urn:ietf:rfc:3986":                                       "URIs (RFC 3986)",
	"urn:iso:std:iso:3166":                                    "ISO 3166 country codes",
	"urn:iso:std:iso:3166:-2":                                 "ISO 3166-2 subdivision codes",
	"urn:iso:std:iso:4217":                                    "ISO 4217 currency codes",
	"urn:iso:std:iso:11073:10101":                             "ISO 11073-10101",
	"http://hl7.org/fhir/sid/icd-10":                          "ICD-10",
	"http://hl7.org/fhir/sid/icd-10-cm":                       "ICD-10-CM",
	"http://hl7.org/fhir/sid/icd-9-cm":                        "ICD-9-CM",
	"http://hl7.org/fhir/sid/cvx":                             "CVX",
	"http://hl7.org/fhir/sid/ndc":                             "NDC",
	"http://www.nlm.nih.gov/research/umls/rxnorm":             "RxNorm",
	"http://www.ama-assn.org/go/cpt":                          "CPT",
	"http://nucc.org/provider-taxonomy":                       "NUCC provider taxonomy",
	"http://dicom.nema.org/resources/ontology/DCM":            "DICOM",
	"http://unstats.un.org/unsd/methods/m49/m49.htm":          "UN M49 regions",
	"https://www.iana.org/time-zones":                         "IANA time zones",
	"http://www.genenames.org":                                "HGNC gene names",
	"http://www.ensembl.org":                                  "Ensembl",
	"http://www.ncbi.nlm.nih.gov/clinvar":                     "ClinVar",
	"http://www.ncbi.nlm.nih.gov/nuccore":                     "NCBI nucleotide",
	"http://www.sequenceontology.org":                         "Sequence Ontology",
	"http://varnomen.hgvs.org/":                               "HGVS",
	"http://www.ncbi.nlm.nih.gov/projects/SNP":                "dbSNP",
	"http://www.ebi.ac.uk/ipd/imgt/hla":                       "IPD-IMGT/HLA",
	"http://cancer.sanger.ac.uk/cancergenome/projects/cosmic": "COSMIC",
	"https://dmd.nhs.uk":                                      "dm+d",
	"http://read.info/ctv3":                                   "Read Codes CTV3",
	"http://read.info/readv2":                                 "Read Codes v2",
}

// unavailable says why codes from a code system that is not held cannot be decided.
func unavailable(system string) string {
	if name, ok := externalSystems[system]; ok {
		return fmt.Sprintf("code system %s (%s) is not available here", system, name)
	}
	return fmt.Sprintf("code system %s is not available here", system)
}
