package tokencore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// The stored form of a grant is the JSON encoding/json writes for the
// Grant struct (its field order, tags, omitempty and omitzero), which
// bbolt files and Redis keys written by every release hold. Every create
// and update of every store encodes one, so it is appended here without
// reflection, byte for byte as json.Marshal writes it:
// grantjson_test.go compares the two on grants with every field set and
// empty, and a fuzz target on arbitrary ones.

// appendGrant appends the JSON encoding of g to dst.
func appendGrant(dst []byte, g *Grant) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, g.ID)
	dst = append(dst, `,"kind":`...)
	dst = AppendJSONString(dst, string(g.Kind))
	dst = appendStringMember(dst, `,"sub":`, g.Subject)
	dst = appendStringMember(dst, `,"user_id":`, g.UserID)
	dst = appendStringMember(dst, `,"tenant":`, g.Tenant)
	dst = appendStringMember(dst, `,"client_id":`, g.ClientID)
	dst = appendStringMember(dst, `,"grant_type":`, g.GrantType)
	dst = appendStringsMember(dst, `,"scopes":`, g.Scopes)
	if dst, err = appendTimeMember(dst, `,"auth_time":`, g.AuthTime, true); err != nil {
		return nil, err
	}
	dst = appendStringMember(dst, `,"acr":`, g.ACR)
	if len(g.Properties) > 0 {
		dst = append(dst, `,"properties":[`...)
		for i, p := range g.Properties {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"key":`...)
			dst = AppendJSONString(dst, p.Key)
			dst = append(dst, `,"value":`...)
			dst = AppendJSONString(dst, p.Value)
			if p.Hidden {
				dst = append(dst, `,"hidden":true`...)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = appendStringMember(dst, `,"id_token_aud":`, g.IDTokenAudience)
	if g.Code != nil {
		if dst, err = appendCode(append(dst, `,"code":`...), g.Code); err != nil {
			return nil, err
		}
	}
	if len(g.Claims) > 0 {
		// Rare (grants of the authorization endpoint) and free-form:
		// encoding/json validates and compacts it, as it always did.
		b, err := json.Marshal(g.Claims)
		if err != nil {
			return nil, err
		}
		dst = append(append(dst, `,"claims":`...), b...)
	}
	dst = append(dst, `,"status":`...)
	dst = AppendJSONString(dst, string(g.Status))
	for _, t := range [...]struct {
		member    string
		t         time.Time
		omitEmpty bool
	}{
		{`,"created_at":`, g.CreatedAt, false},
		{`,"updated_at":`, g.UpdatedAt, false},
		{`,"last_refreshed_at":`, g.LastRefreshedAt, true},
		{`,"revoked_at":`, g.RevokedAt, true},
	} {
		if dst, err = appendTimeMember(dst, t.member, t.t, t.omitEmpty); err != nil {
			return nil, err
		}
	}
	dst = appendStringMember(dst, `,"access_id":`, g.AccessID)
	dst = appendStringMember(dst, `,"access_hash":`, g.AccessHash)
	if dst, err = appendTimeMember(dst, `,"access_expires_at":`, g.AccessExpiresAt, true); err != nil {
		return nil, err
	}
	dst = appendStringsMember(dst, `,"access_scopes":`, g.AccessScopes)
	if g.AccessPersistent {
		dst = append(dst, `,"access_persistent":true`...)
	}
	if dst, err = appendTimeMember(dst, `,"max_access_expires_at":`, g.MaxAccessExpiresAt, true); err != nil {
		return nil, err
	}
	dst = appendStringMember(dst, `,"refresh_id":`, g.RefreshID)
	dst = appendStringMember(dst, `,"refresh_hash":`, g.RefreshHash)
	if dst, err = appendTimeMember(dst, `,"refresh_expires_at":`, g.RefreshExpiresAt, true); err != nil {
		return nil, err
	}
	dst = appendStringMember(dst, `,"previous_refresh_id":`, g.PreviousRefreshID)
	if dst, err = appendTimeMember(dst, `,"previous_rotated_at":`, g.PreviousRotatedAt, true); err != nil {
		return nil, err
	}
	if len(g.GraceResponse) > 0 {
		dst = append(dst, `,"grace_response":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, g.GraceResponse)
		dst = append(dst, '"')
	}
	if dst, err = appendTimeMember(dst, `,"expires_at":`, g.ExpiresAt, true); err != nil {
		return nil, err
	}
	return append(dst, '}'), nil
}

// appendCode appends an AuthorizationCode as encoding/json writes it.
func appendCode(dst []byte, c *AuthorizationCode) ([]byte, error) {
	var err error
	dst = append(dst, `{"hash":`...)
	dst = AppendJSONString(dst, c.Hash)
	if dst, err = appendTimeMember(dst, `,"expires_at":`, c.ExpiresAt, false); err != nil {
		return nil, err
	}
	if dst, err = appendTimeMember(dst, `,"ticket_expires_at":`, c.TicketExpiresAt, true); err != nil {
		return nil, err
	}
	if dst, err = appendTimeMember(dst, `,"redeemed_at":`, c.RedeemedAt, true); err != nil {
		return nil, err
	}
	dst = appendStringMember(dst, `,"redirect_uri":`, c.RedirectURI)
	if c.RedirectOmitted {
		dst = append(dst, `,"redirect_omitted":true`...)
	}
	dst = appendStringMember(dst, `,"challenge":`, c.Challenge)
	dst = appendStringMember(dst, `,"nonce":`, c.Nonce)
	return append(dst, '}'), nil
}

// appendStringMember appends member (`,"name":`) and s, or nothing when s
// is empty (omitempty).
func appendStringMember(dst []byte, member, s string) []byte {
	if s == "" {
		return dst
	}
	return AppendJSONString(append(dst, member...), s)
}

// appendStringsMember appends member and the array ss, or nothing when it
// is empty (omitempty: nil and empty alike).
func appendStringsMember(dst []byte, member string, ss []string) []byte {
	if len(ss) == 0 {
		return dst
	}
	dst = append(append(dst, member...), '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendJSONString(dst, s)
	}
	return append(dst, ']')
}

// appendTimeMember appends member and t as time.Time.MarshalJSON writes it
// (RFC 3339 with nanoseconds, in t's own offset), or nothing when
// omitZero and t.IsZero() (omitzero). A time RFC 3339 cannot express (a
// year outside 0–9999) is an error, as it is for json.Marshal.
func appendTimeMember(dst []byte, member string, t time.Time, omitZero bool) ([]byte, error) {
	if omitZero && t.IsZero() {
		return dst, nil
	}
	dst = append(append(dst, member...), '"')
	b, err := t.AppendText(dst)
	if err != nil {
		return nil, fmt.Errorf("%s %w", member[2:len(member)-2], err)
	}
	return append(b, '"'), nil
}

// DecodeGrant reads a stored grant into g (which it overwrites) exactly
// as json.Unmarshal does: the same grant from the same bytes, the same
// error. What tokengate writes (lower-case names, strings, arrays of
// strings, RFC 3339 times, no null) is read in place; anything else (a
// name encoding/json would match without regard to case, a null, a value
// of another type, invalid JSON) is left to json.Unmarshal. The stores
// decode a grant on every refresh (bbolt and Redis twice: the read, then
// the compare-and-swap).
func DecodeGrant(data []byte, g *Grant) error {
	*g = Grant{}
	if json.Valid(data) && readGrant(data, g) {
		return nil
	}
	*g = Grant{}
	return json.Unmarshal(data, g)
}

// readGrant is DecodeGrant's in-place reading of valid JSON; false when
// it must be left to encoding/json.
func readGrant(data []byte, g *Grant) bool {
	obj := NewJSONObject(data)
	for name, value, ok := obj.Next(); ok; name, value, ok = obj.Next() {
		if !foldFreeName(name) || string(value) == "null" {
			return false
		}
		var s *string
		var t *time.Time
		var ss *[]string
		switch string(name) {
		case "id":
			s = &g.ID
		case "kind":
			s = (*string)(&g.Kind)
		case "sub":
			s = &g.Subject
		case "user_id":
			s = &g.UserID
		case "tenant":
			s = &g.Tenant
		case "client_id":
			s = &g.ClientID
		case "grant_type":
			s = &g.GrantType
		case "scopes":
			ss = &g.Scopes
		case "auth_time":
			t = &g.AuthTime
		case "acr":
			s = &g.ACR
		case "properties":
			if json.Unmarshal(value, &g.Properties) != nil {
				return false
			}
		case "id_token_aud":
			s = &g.IDTokenAudience
		case "code":
			if json.Unmarshal(value, &g.Code) != nil {
				return false
			}
		case "claims":
			if json.Unmarshal(value, &g.Claims) != nil {
				return false
			}
		case "status":
			s = (*string)(&g.Status)
		case "created_at":
			t = &g.CreatedAt
		case "updated_at":
			t = &g.UpdatedAt
		case "last_refreshed_at":
			t = &g.LastRefreshedAt
		case "revoked_at":
			t = &g.RevokedAt
		case "access_id":
			s = &g.AccessID
		case "access_hash":
			s = &g.AccessHash
		case "access_expires_at":
			t = &g.AccessExpiresAt
		case "access_scopes":
			ss = &g.AccessScopes
		case "access_persistent":
			switch string(value) {
			case "true":
				g.AccessPersistent = true
			case "false":
				g.AccessPersistent = false
			default:
				return false
			}
		case "max_access_expires_at":
			t = &g.MaxAccessExpiresAt
		case "refresh_id":
			s = &g.RefreshID
		case "refresh_hash":
			s = &g.RefreshHash
		case "refresh_expires_at":
			t = &g.RefreshExpiresAt
		case "previous_refresh_id":
			s = &g.PreviousRefreshID
		case "previous_rotated_at":
			t = &g.PreviousRotatedAt
		case "expires_at":
			t = &g.ExpiresAt
		case "grace_response":
			// encoding/json: standard base64 of the unescaped string.
			if len(value) < 3 || value[0] != '"' || bytes.IndexByte(value, '\\') >= 0 {
				return false
			}
			b, err := base64.StdEncoding.AppendDecode(nil, value[1:len(value)-1])
			if err != nil {
				return false
			}
			g.GraceResponse = b
		}
		var ok bool
		switch {
		case s != nil:
			*s, ok = grantWord(value)
		case t != nil:
			ok = t.UnmarshalJSON(value) == nil // the method json.Unmarshal calls
		case ss != nil:
			*ss, ok = readStrings(value)
		default:
			ok = true
		}
		if !ok {
			return false
		}
	}
	return !obj.Err()
}

// readStrings reads an array of strings as json.Unmarshal reads it into
// a []string (an empty array is an empty, non-nil slice); false for
// anything else, null elements included.
func readStrings(raw []byte) ([]string, bool) {
	if raw[0] != '[' {
		return nil, false
	}
	out := []string{}
	arr := NewJSONArray(raw)
	for v, ok := arr.Next(); ok; v, ok = arr.Next() {
		s, ok := JSONString(v)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, !arr.Err()
}

// grantWord is JSONString for a string member of a grant, with the kind
// and status words every grant holds returned as the constants (no
// allocation for them).
func grantWord(raw []byte) (string, bool) {
	switch string(raw) {
	case `"active"`:
		return string(GrantActive), true
	case `"revoked"`:
		return string(GrantRevoked), true
	case `"folio"`:
		return string(GrantKindFolio), true
	case `"oauth"`:
		return string(GrantKindOAuth), true
	case `"manage"`:
		return string(GrantKindManage), true
	}
	return JSONString(raw)
}
