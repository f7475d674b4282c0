// Package access is sign-in for Concord: it verifies OpenID Connect bearer tokens and says
// who is asking, for which organisation, in which role and for what purpose (a Principal).
//
// A Verifier accepts the signed JWTs of one issuer (NHS CIS2, Keycloak, Entra ID, or the
// built-in DevIssuer): it reads the issuer's discovery document and key set, refetches the
// keys when a token names an unknown kid (at most once per KeyMinInterval, so forged kids
// cannot hammer the issuer) and every KeyRefresh, accepts only asymmetric algorithms from
// an allow-list (never "none", never HS*), and checks iss exactly, aud, exp, nbf and iat
// with a small leeway. A ClaimMap turns the issuer's claims into the Principal's
// organisation (ODS code), NHS national RBAC job role, purpose of use and launch patient;
// DefaultClaims, CIS2Claims, KeycloakClaims and EntraClaims cover the usual shapes.
//
// Scopes follow SMART on FHIR v2 (patient/Observation.rs, user/*.cruds,
// system/*.cruds, with ?param=value restrictions; v1 read/write/* translated). They are an
// upper bound: see Scopes for how enforcement must combine them with sharing agreements.
//
// The package decides nothing about data: whether a Principal may see a resource is the
// job of the access decision built on top of it, enforced in the server.
package access
