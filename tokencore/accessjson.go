package tokencore

import "strconv"

// AppendJSON appends the access-token claims as json.Marshal writes them
// (golang-jwt's encoding, which tokens were always signed over), without
// reflection: every sign and refresh signs one. accessjson_test.go
// compares the two.
func (c *AccessClaims) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = AppendJSONString(dst, c.Type)
	dst = appendIntMember(dst, `,"iat":`, c.IssuedAt)
	dst = appendStringMember(dst, `,"tenant":`, c.Tenant)
	dst = append(dst, `,"sub":`...)
	dst = AppendJSONString(dst, c.Subject)
	dst = appendStringMember(dst, `,"user_id":`, c.UserID)
	dst = appendIntMember(dst, `,"exp":`, c.Expiry)
	dst = appendStringMember(dst, `,"jti":`, c.ID)
	dst = appendStringMember(dst, `,"fid":`, c.GrantID)
	dst = appendStringMember(dst, `,"iss":`, c.Issuer)
	dst = appendStringMember(dst, `,"client_id":`, c.ClientID)
	dst = appendStringMember(dst, `,"scope":`, c.Scope)
	dst = appendStringsMember(dst, `,"aud":`, c.Audience)
	if c.Dummy {
		dst = append(dst, `,"dummy":true`...)
	}
	dst = appendStringsMember(dst, `,"extra_permissions":`, c.ExtraPermissions)
	return append(dst, '}')
}

// appendIntMember appends member and n, or nothing when n is 0 (omitempty).
func appendIntMember(dst []byte, member string, n int64) []byte {
	if n == 0 {
		return dst
	}
	return strconv.AppendInt(append(dst, member...), n, 10)
}
