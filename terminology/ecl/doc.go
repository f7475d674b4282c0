// Package ecl implements the SNOMED CT Expression Constraint Language (ECL 2.x): a parser
// from brief or long syntax to a syntax tree, and an evaluator over a concept Graph that
// either expands an expression into a Set or decides whether one concept matches it.
//
// Supported: concept references with terms, `*` (ANY), member of (`^`, memberOf), the
// constraint operators `<` `<<` `<!` `<<!` `>` `>>` `>!` `>>!` `!!>` `!!<` and their long
// forms, AND (or `,`), OR and MINUS (mixing them needs brackets, as the grammar says),
// refinements with attribute sets, groups, cardinalities, reverse attributes (`R`), `=` and
// `!=` on concept values, concrete numbers, strings and booleans, dotted attributes,
// description term filters (match and wild), the concept active filter, and comments.
// |Is a| (116680003) may be named as an attribute; the wildcard attribute does not include
// it.
//
// Parsed but refused with an *Error whose Unsupported flag is set, naming the feature:
// alternate identifiers, `^R`, reference set field selection (`^ [fields]`), member
// filters, history supplements, `^ *`, description filters other than term (language,
// type, dialect, module, effective time, active, id) and concept filters other than active.
package ecl
