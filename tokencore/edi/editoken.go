package edi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/tokengate/tokengate/tokencore"
)

// maxUnixSeconds is 9999-12-31T23:59:59Z, the latest time claim accepted.
// Bounding the claims keeps every time.Time conversion exact and every
// comparison free of overflow.
const maxUnixSeconds = 253402300799

// Claims are the claims of an EDI token (spec §4.2). EDI always emits
// all fifteen, in this order, with JSON null for absent values; MarshalJSON
// does the same, and UnmarshalJSON accepts exactly that set, nothing more
// and nothing less. Nullable claims are pointers so that null and "" stay
// distinct when a token is refreshed.
type Claims struct {
	// Subject (sub) is the EDI-ID of the profile or group: "EDI-" and 40
	// lowercase hex digits (see EDIID).
	Subject string
	// CommonName (cn) is the user-editable name; for a group, its name.
	CommonName *string
	// Email is the contact e-mail.
	Email *string
	// Principals are the EDI-IDs the subject acts as besides itself, sorted.
	// A nil slice is written as [], as EDI writes it.
	Principals []string
	// Links are the linked profiles, oldest link first. A nil slice is
	// written as [].
	Links []Link
	// IsEmailEnabled: the user accepts notification e-mail.
	IsEmailEnabled bool
	// IsEmailVerified is always false in EDI today.
	IsEmailVerified bool
	// IdPCommonName is the name the IdP gave when the profile was created.
	IdPCommonName *string
	// IdPName is the lowercase IdP name (ldap, github, google, …).
	IdPName *string
	// IdPUID is the uid at the IdP; for Google, the contact e-mail. It is
	// what binds the EDI token to a PASTA token's uid (spec §4.4).
	IdPUID *string
	// Issuer (iss), by default DefaultIssuer.
	Issuer string
	// HostedDomain (hd), by default DefaultHostedDomain.
	HostedDomain string
	// IssuedAt (iat), NotBefore (nbf) and ExpiresAt (exp) travel as integer
	// epoch seconds; finer parts are truncated when minting.
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
}

// Link is one linked profile inside Claims.Links.
type Link struct {
	// EDIID (ediId) is the linked profile's EDI-ID.
	EDIID string
	// LinkedAt (linkedAt) travels as integer epoch seconds.
	LinkedAt      time.Time
	CommonName    *string // commonName
	Email         *string // email
	IdPCommonName *string // idpCommonName
	IdPName       *string // idpName
	IdPUID        *string // idpUid
}

// EDIID returns the EDI-ID of a person: "EDI-" followed by the first 160
// bits of SHA-256 of their IdP uid, as 40 lowercase hex digits (spec §4.2).
// EDI-IDs of system subjects and groups are random and not derived here.
func EDIID(idpUID string) string {
	sum := sha256.Sum256([]byte(idpUID))
	return "EDI-" + hex.EncodeToString(sum[:20])
}

// Refreshed returns a deep copy of c with a new lifetime: iat and nbf set to
// now and exp to now+ttl, at second precision. Everything else, principals
// and links included, is copied unchanged (spec §5.2 step 6).
func (c Claims) Refreshed(now time.Time, ttl time.Duration) Claims {
	out := c.clone()
	iat := time.Unix(now.Unix(), 0).UTC()
	out.IssuedAt = iat
	out.NotBefore = iat
	out.ExpiresAt = iat.Add(ttl.Truncate(time.Second))
	return out
}

// clone copies c so that the copy shares no slice or pointer with it.
func (c Claims) clone() Claims {
	c.CommonName = cloneString(c.CommonName)
	c.Email = cloneString(c.Email)
	c.Principals = slices.Clone(c.Principals)
	c.IdPCommonName = cloneString(c.IdPCommonName)
	c.IdPName = cloneString(c.IdPName)
	c.IdPUID = cloneString(c.IdPUID)
	if c.Links != nil {
		links := make([]Link, len(c.Links))
		for i, l := range c.Links {
			l.CommonName = cloneString(l.CommonName)
			l.Email = cloneString(l.Email)
			l.IdPCommonName = cloneString(l.IdPCommonName)
			l.IdPName = cloneString(l.IdPName)
			l.IdPUID = cloneString(l.IdPUID)
			links[i] = l
		}
		c.Links = links
	}
	return c
}

func cloneString(p *string) *string {
	if p == nil {
		return nil
	}
	s := *p
	return &s
}

// checkMintable refuses claims that Verifier would reject for their
// form, so that a mistake (a forgotten time, an empty subject) fails at
// minting rather than at the client.
func (c Claims) checkMintable() error {
	switch {
	case c.Subject == "":
		return fmt.Errorf("%w: empty sub", ErrUnencodable)
	case c.Issuer == "":
		return fmt.Errorf("%w: empty iss", ErrUnencodable)
	case c.HostedDomain == "":
		return fmt.Errorf("%w: empty hd", ErrUnencodable)
	case c.ExpiresAt.Unix() <= c.IssuedAt.Unix():
		return fmt.Errorf("%w: exp is not after iat", ErrUnencodable)
	}
	for _, l := range c.Links {
		if l.EDIID == "" {
			return fmt.Errorf("%w: link with empty ediId", ErrUnencodable)
		}
	}
	// Time ranges are checked by MarshalJSON.
	return nil
}

// wireClaims is the JSON form of Claims; its field order is the claim
// order of spec §4.2, which encoding/json preserves.
type wireClaims struct {
	Sub             string     `json:"sub"`
	CN              *string    `json:"cn"`
	Email           *string    `json:"email"`
	Principals      []string   `json:"principals"`
	Links           []wireLink `json:"links"`
	IsEmailEnabled  bool       `json:"isEmailEnabled"`
	IsEmailVerified bool       `json:"isEmailVerified"`
	IdPCommonName   *string    `json:"idpCommonName"`
	IdPName         *string    `json:"idpName"`
	IdPUID          *string    `json:"idpUid"`
	Iss             string     `json:"iss"`
	HD              string     `json:"hd"`
	Iat             int64      `json:"iat"`
	Nbf             int64      `json:"nbf"`
	Exp             int64      `json:"exp"`
}

type wireLink struct {
	EDIID         string  `json:"ediId"`
	LinkedAt      int64   `json:"linkedAt"`
	CommonName    *string `json:"commonName"`
	Email         *string `json:"email"`
	IdPCommonName *string `json:"idpCommonName"`
	IdPName       *string `json:"idpName"`
	IdPUID        *string `json:"idpUid"`
}

// MarshalJSON writes the fifteen claims in EDI's order, null for nil
// pointers and [] for nil slices. It fails for times before 1970 or after
// 9999, which covers a forgotten (zero) time.
func (c Claims) MarshalJSON() ([]byte, error) {
	w := wireClaims{
		Sub:             c.Subject,
		CN:              c.CommonName,
		Email:           c.Email,
		Principals:      c.Principals,
		Links:           make([]wireLink, len(c.Links)),
		IsEmailEnabled:  c.IsEmailEnabled,
		IsEmailVerified: c.IsEmailVerified,
		IdPCommonName:   c.IdPCommonName,
		IdPName:         c.IdPName,
		IdPUID:          c.IdPUID,
		Iss:             c.Issuer,
		HD:              c.HostedDomain,
	}
	if w.Principals == nil {
		w.Principals = []string{}
	}
	var err error
	if w.Iat, err = unixSeconds("iat", c.IssuedAt); err != nil {
		return nil, err
	}
	if w.Nbf, err = unixSeconds("nbf", c.NotBefore); err != nil {
		return nil, err
	}
	if w.Exp, err = unixSeconds("exp", c.ExpiresAt); err != nil {
		return nil, err
	}
	for i, l := range c.Links {
		at, err := unixSeconds("linkedAt", l.LinkedAt)
		if err != nil {
			return nil, err
		}
		w.Links[i] = wireLink{
			EDIID: l.EDIID, LinkedAt: at, CommonName: l.CommonName, Email: l.Email,
			IdPCommonName: l.IdPCommonName, IdPName: l.IdPName, IdPUID: l.IdPUID,
		}
	}
	return json.Marshal(w)
}

func unixSeconds(name string, t time.Time) (int64, error) {
	s := t.Unix()
	if s < 0 || s > maxUnixSeconds {
		return 0, fmt.Errorf("%w: %s %s is out of range", ErrUnencodable, name, t.UTC().Format(time.RFC3339))
	}
	return s, nil
}

// Claim names of spec §4.2, as indices into a presence array.
const (
	claimSub = iota
	claimCN
	claimEmail
	claimPrincipals
	claimLinks
	claimIsEmailEnabled
	claimIsEmailVerified
	claimIdPCommonName
	claimIdPName
	claimIdPUID
	claimIss
	claimHD
	claimIat
	claimNbf
	claimExp
	numClaims
)

// claimName returns the name of claim i, in EDI's order.
func claimName(i int) string {
	return [numClaims]string{
		"sub", "cn", "email", "principals", "links", "isEmailEnabled", "isEmailVerified",
		"idpCommonName", "idpName", "idpUid", "iss", "hd", "iat", "nbf", "exp",
	}[i]
}

// claimIndex maps a claim name to its index, or -1. Names match exactly:
// encoding/json's case-insensitive field matching would let "SUB" stand in
// for "sub".
func claimIndex(name string) int {
	for i := range numClaims {
		if claimName(i) == name {
			return i
		}
	}
	return -1
}

// UnmarshalJSON reads a claim set strictly (spec §4.2, §5.2 step 3): a JSON
// object with exactly the fifteen claims, each once, each of its type.
// Nullable strings may be null; sub, iss and hd must be strings, sub
// non-empty; principals and links arrays (not null); the booleans booleans;
// iat, nbf and exp integers between 1970 and 9999. aud, jti, the pre-2025
// identityId and idpCname, and any other name are refused. Errors wrap
// ErrClaims. On error c is left unchanged.
func (c *Claims) UnmarshalJSON(data []byte) error {
	var (
		out  Claims
		seen [numClaims]bool
	)
	err := readObject(data, func(name string, raw json.RawMessage) error {
		i := claimIndex(name)
		if i < 0 {
			return unknownClaim(name, raw)
		}
		seen[i] = true
		var err error
		switch i {
		case claimSub:
			if out.Subject, err = decodeString(raw); err == nil && out.Subject == "" {
				err = errors.New("is empty")
			}
		case claimCN:
			out.CommonName, err = decodeNullableString(raw)
		case claimEmail:
			out.Email, err = decodeNullableString(raw)
		case claimPrincipals:
			out.Principals, err = decodeStrings(raw)
		case claimLinks:
			out.Links, err = decodeLinks(raw)
		case claimIsEmailEnabled:
			out.IsEmailEnabled, err = decodeBool(raw)
		case claimIsEmailVerified:
			out.IsEmailVerified, err = decodeBool(raw)
		case claimIdPCommonName:
			out.IdPCommonName, err = decodeNullableString(raw)
		case claimIdPName:
			out.IdPName, err = decodeNullableString(raw)
		case claimIdPUID:
			out.IdPUID, err = decodeNullableString(raw)
		case claimIss:
			out.Issuer, err = decodeString(raw)
		case claimHD:
			out.HostedDomain, err = decodeString(raw)
		case claimIat:
			out.IssuedAt, err = decodeTime(raw)
		case claimNbf:
			out.NotBefore, err = decodeTime(raw)
		case claimExp:
			out.ExpiresAt, err = decodeTime(raw)
		}
		if err != nil {
			return fmt.Errorf("claim %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrClaims, err)
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("%w: claim %s is missing", ErrClaims, claimName(i))
		}
	}
	// The JSON rules every tokengate parser shares (no duplicate member,
	// also in another case; bounded depth; valid UTF-8). The reader above
	// already refuses most of it with a more precise message.
	if err := tokencore.CheckStrictJSON(data); err != nil {
		return fmt.Errorf("%w: %w", ErrClaims, err)
	}
	*c = out
	return nil
}

// unknownClaim explains why a claim name outside §4.2 is refused.
func unknownClaim(name string, raw json.RawMessage) error {
	switch name {
	case "aud":
		return errors.New("aud claim is not allowed")
	case "jti":
		if _, err := decodeString(raw); err != nil {
			return fmt.Errorf("jti claim is not a string")
		}
		return errors.New("jti claim is not allowed")
	case "identityId", "idpCname":
		return fmt.Errorf("legacy claim %s (EDI token from before September 2025)", name)
	}
	return fmt.Errorf("unknown claim %q", truncate(name))
}

// linkMembers are the members of a link object, in EDI's order.
const (
	linkEDIID = iota
	linkLinkedAt
	linkCommonName
	linkEmail
	linkIdPCommonName
	linkIdPName
	linkIdPUID
	numLinkMembers
)

func linkMemberName(i int) string {
	return [numLinkMembers]string{"ediId", "linkedAt", "commonName", "email", "idpCommonName", "idpName", "idpUid"}[i]
}

// decodeLinks reads the links array; each link is an object with exactly
// the seven members of spec §4.2, so that refresh copies links unchanged.
func decodeLinks(raw json.RawMessage) ([]Link, error) {
	items, err := decodeArray(raw)
	if err != nil {
		return nil, err
	}
	links := make([]Link, len(items))
	for i, item := range items {
		l, err := decodeLink(item)
		if err != nil {
			return nil, fmt.Errorf("link %d: %w", i, err)
		}
		links[i] = l
	}
	return links, nil
}

func decodeLink(raw json.RawMessage) (Link, error) {
	var (
		l    Link
		seen [numLinkMembers]bool
	)
	err := readObject(raw, func(name string, raw json.RawMessage) error {
		var (
			i   int
			err error
		)
		switch name {
		case "ediId":
			i = linkEDIID
			if l.EDIID, err = decodeString(raw); err == nil && l.EDIID == "" {
				err = errors.New("is empty")
			}
		case "linkedAt":
			i = linkLinkedAt
			l.LinkedAt, err = decodeTime(raw)
		case "commonName":
			i = linkCommonName
			l.CommonName, err = decodeNullableString(raw)
		case "email":
			i = linkEmail
			l.Email, err = decodeNullableString(raw)
		case "idpCommonName":
			i = linkIdPCommonName
			l.IdPCommonName, err = decodeNullableString(raw)
		case "idpName":
			i = linkIdPName
			l.IdPName, err = decodeNullableString(raw)
		case "idpUid":
			i = linkIdPUID
			l.IdPUID, err = decodeNullableString(raw)
		default:
			return fmt.Errorf("unknown member %q", truncate(name))
		}
		seen[i] = true
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return Link{}, err
	}
	for i, ok := range seen {
		if !ok {
			return Link{}, fmt.Errorf("member %s is missing", linkMemberName(i))
		}
	}
	return l, nil
}

// truncate shortens attacker-chosen names quoted in error messages.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

var (
	errNotObject = errors.New("is not a JSON object")
	errNotArray  = errors.New("is not an array")
	errNotString = errors.New("is not a string")
	errNotBool   = errors.New("is not a boolean")
	errNotTime   = errors.New("is not an integer number of seconds between 1970 and 9999")
)

// readObject calls f for each member of the JSON object in data, in order.
// Unlike encoding/json it refuses duplicate names: a claim set in which
// "sub" appears twice means different things to different parsers.
func readObject(data []byte, f func(name string, raw json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errNotObject
	}
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, ok := tok.(string)
		if !ok {
			return errNotObject
		}
		if seen[name] {
			return fmt.Errorf("duplicate member %q", truncate(name))
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if err := f(name, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// The decoders below check the JSON type before calling encoding/json,
// because encoding/json quietly accepts null for a string, bool or number
// and leaves the zero value.

func decodeString(raw json.RawMessage) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", errNotString
	}
	return s, nil
}

func decodeNullableString(raw json.RawMessage) (*string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	s, err := decodeString(raw)
	if err != nil {
		return nil, errors.New("is neither a string nor null")
	}
	return &s, nil
}

func decodeBool(raw json.RawMessage) (bool, error) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errNotBool
}

// decodeTime reads integer epoch seconds. EDI writes integers; fractions,
// exponents and negative values are refused rather than rounded.
func decodeTime(raw json.RawMessage) (time.Time, error) {
	s, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || s < 0 || s > maxUnixSeconds {
		return time.Time{}, errNotTime
	}
	return time.Unix(s, 0).UTC(), nil
}

func decodeArray(raw json.RawMessage) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, errNotArray
	}
	return items, nil
}

// decodeStrings reads an array of strings; null elements are refused.
func decodeStrings(raw json.RawMessage) ([]string, error) {
	items, err := decodeArray(raw)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, item := range items {
		if out[i], err = decodeString(item); err != nil {
			return nil, fmt.Errorf("element %d %w", i, err)
		}
	}
	return out, nil
}
