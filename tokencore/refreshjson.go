package tokencore

import (
	"encoding/json"
	"strconv"
)

// The refresh-token claims are encoded on every sign and refresh and
// decoded on every refresh, so they are appended and read without
// reflection; refreshjson_test.go holds both to encoding/json (the bytes
// json.Marshal writes, the values json.Unmarshal reads).

// AppendJSON appends the claims as json.Marshal writes them, in
// mod-authtoken's member order.
func (rc *RefreshClaims) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = AppendJSONString(dst, rc.Type)
	dst = append(dst, `,"exp":`...)
	dst = strconv.AppendInt(dst, rc.Expiry, 10)
	dst = append(dst, `,"iat":`...)
	dst = strconv.AppendInt(dst, rc.IssuedAt, 10)
	dst = append(dst, `,"sub":`...)
	dst = AppendJSONString(dst, rc.Subject)
	dst = append(dst, `,"user_id":`...)
	dst = AppendJSONString(dst, rc.UserID)
	dst = append(dst, `,"tenant":`...)
	dst = AppendJSONString(dst, rc.Tenant)
	dst = append(dst, `,"jti":`...)
	dst = AppendJSONString(dst, rc.ID)
	dst = append(dst, `,"prn":`...)
	dst = AppendJSONString(dst, rc.Prn)
	dst = appendStringMember(dst, `,"fid":`, rc.GrantID)
	dst = appendStringMember(dst, `,"client_id":`, rc.ClientID)
	return append(dst, '}')
}

// decodeRefreshClaims reads payload, which passed CheckStrictJSON, into
// rc exactly as json.Unmarshal does. The members are read in place when
// they are what tokengate writes (lower-case names, string and integer
// values, null); anything else (a name encoding/json would match without
// regard to case, a value of another type) is left to json.Unmarshal, so
// the result and the error are its own.
func decodeRefreshClaims(payload []byte, rc *RefreshClaims) error {
	if readRefreshClaims(payload, rc) {
		return nil
	}
	*rc = RefreshClaims{}
	return json.Unmarshal(payload, rc)
}

// readRefreshClaims is decodeRefreshClaims' in-place reading; false when
// it must be left to encoding/json.
func readRefreshClaims(payload []byte, rc *RefreshClaims) bool {
	obj := NewJSONObject(payload)
	for name, value, ok := obj.Next(); ok; name, value, ok = obj.Next() {
		if !foldFreeName(name) {
			return false
		}
		var s *string
		var n *int64
		switch string(name) {
		case "type":
			s = &rc.Type
		case "exp":
			n = &rc.Expiry
		case "iat":
			n = &rc.IssuedAt
		case "sub":
			s = &rc.Subject
		case "user_id":
			s = &rc.UserID
		case "tenant":
			s = &rc.Tenant
		case "jti":
			s = &rc.ID
		case "prn":
			s = &rc.Prn
		case "fid":
			s = &rc.GrantID
		case "client_id":
			s = &rc.ClientID
		default:
			continue // json.Unmarshal ignores unknown members
		}
		if string(value) == "null" {
			continue // json.Unmarshal leaves the field as it is
		}
		var good bool
		if s != nil && string(value) == `"refresh"` {
			*s, good = TypeRefresh, true // type and prn: no allocation
		} else if s != nil {
			*s, good = JSONString(value)
		} else {
			var err error
			*n, err = strconv.ParseInt(string(value), 10, 64)
			good = err == nil
		}
		if !good {
			return false
		}
	}
	return !obj.Err()
}

// foldFreeName reports whether a member name matches a struct field's
// name only when equal to it: ASCII without upper case. encoding/json
// matches other names case-insensitively (with Unicode folding), which
// only it reproduces.
func foldFreeName(name []byte) bool {
	for _, c := range name {
		if c >= 0x80 || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}
