package fakegithub

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	jwt "github.com/golang-jwt/jwt/v4"
)

// issuedToken is an installation access token the fake handed out.
type issuedToken struct {
	value          string
	installationID int64
	expiresAt      time.Time
}

// credential is what a request authenticated as.
type credential struct {
	app            bool // the App itself, by JWT
	installationID int64
}

// verifyJWT checks an App JWT the way GitHub does: RS256 signed by the App's
// key, iss the App ID, iat not in the future (60 s of clock drift allowed),
// exp in the future and at most 10 minutes after now.
func (s *Server) verifyJWT(raw string) error {
	claims := jwt.MapClaims{}
	p := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithJSONNumber(), jwt.WithoutClaimsValidation())
	if _, err := p.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return s.opts.PublicKey, nil }); err != nil {
		return errors.New("A JSON web token could not be decoded")
	}
	iss := fmt.Sprint(claims["iss"])
	if iss != strconv.FormatInt(s.opts.AppID, 10) {
		return fmt.Errorf("'Issuer' claim ('iss') must be an Integer")
	}
	now := s.now()
	iat, ok := numericClaim(claims["iat"])
	if !ok {
		return errors.New("'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
	}
	if time.Unix(iat, 0).After(now.Add(60 * time.Second)) {
		return errors.New("'Issued at' claim ('iat') must be an Integer representing a time in the past")
	}
	exp, ok := numericClaim(claims["exp"])
	if !ok {
		return errors.New("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	}
	if !time.Unix(exp, 0).After(now) {
		return errors.New("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	}
	if time.Unix(exp, 0).After(now.Add(10*time.Minute + 60*time.Second)) {
		return errors.New("'Expiration time' claim ('exp') is too far in the future")
	}
	return nil
}

// numericClaim reads an integer NumericDate; GitHub rejects fractions.
func numericClaim(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

// issueTokenLocked makes and remembers a new installation token; s.mu held.
func (s *Server) issueTokenLocked(installationID int64) issuedToken {
	t := issuedToken{
		value:          "ghs_" + randomString(36),
		installationID: installationID,
		expiresAt:      s.now().Add(s.opts.TokenTTL).UTC().Truncate(time.Second),
	}
	s.tokens[t.value] = t
	s.tokenOrder = append(s.tokenOrder, t.value)
	return t
}

// authenticate reads the Authorization header. For operations that GitHub
// serves to the App itself, it wants a JWT; for all others, an installation
// token this fake issued and that has not expired.
func (s *Server) authenticate(header string, wantApp bool) (credential, error) {
	scheme, value, _ := strings.Cut(header, " ")
	value = strings.TrimSpace(value)
	if value == "" {
		return credential{}, errors.New("Requires authentication")
	}
	if wantApp {
		if !strings.EqualFold(scheme, "bearer") {
			return credential{}, errors.New("A JSON web token could not be decoded")
		}
		if err := s.verifyJWT(value); err != nil {
			return credential{}, err
		}
		return credential{app: true}, nil
	}
	if !strings.EqualFold(scheme, "token") && !strings.EqualFold(scheme, "bearer") {
		return credential{}, errors.New("Bad credentials")
	}
	s.mu.Lock()
	t, ok := s.tokens[value]
	s.mu.Unlock()
	if !ok || !s.now().Before(t.expiresAt) {
		return credential{}, errors.New("Bad credentials")
	}
	return credential{installationID: t.installationID}, nil
}

// Tokens returns every installation token issued so far, in order, so a test
// can check that none leaked into logs, comments or errors.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.tokenOrder...)
}

// ValidToken reports whether t is an issued installation token that has not
// expired, for a git server that accepts the same tokens as the API (GitHub
// takes them as the password of user x-access-token).
func (s *Server) ValidToken(t string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.tokens[t]
	return ok && s.now().Before(it.expiresAt)
}

// ExpireTokens makes every token issued so far expired, so a test can watch
// the client fetch a new one.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	past := s.now().Add(-time.Second)
	for k, t := range s.tokens {
		t.expiresAt = past
		s.tokens[k] = t
	}
}

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randomString(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}
