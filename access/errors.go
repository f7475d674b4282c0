package access

import (
	"errors"
	"fmt"
)

// Errors a Verifier returns. Every rejected token gives a *TokenError, which matches
// ErrInvalidToken and its Kind with errors.Is; ErrIssuerUnavailable is not a token error
// (the server answers 503, not 401, and the client should retry).
var (
	ErrInvalidToken      = errors.New("invalid token")
	ErrMalformed         = errors.New("malformed token")
	ErrAlgorithm         = errors.New("signature algorithm not allowed")
	ErrUnknownKey        = errors.New("unknown signing key")
	ErrSignature         = errors.New("bad signature")
	ErrIssuer            = errors.New("wrong issuer")
	ErrAudience          = errors.New("wrong audience")
	ErrExpired           = errors.New("token expired")
	ErrNotYetValid       = errors.New("token not yet valid")
	ErrClaims            = errors.New("unusable claims")
	ErrIssuerUnavailable = errors.New("issuer unavailable")
	ErrInvalidScope      = errors.New("invalid scope")
)

// TokenError explains why a token was refused. Reason never holds the token, its
// signature or key material, so it can go into logs and WWW-Authenticate error_description.
type TokenError struct {
	Kind   error // one of the Err… values above
	Reason string
	Err    error // the underlying cause, if any
}

func (e *TokenError) Error() string { return "invalid token: " + e.Reason }

// Unwrap lets errors.Is find the Kind and the cause.
func (e *TokenError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Is makes every TokenError match ErrInvalidToken.
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

func tokenErr(kind error, format string, args ...any) *TokenError {
	return &TokenError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// quote shows an untrusted value in a message: quoted, and cut short so a token cannot
// fill a log line.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%q", s)
}
