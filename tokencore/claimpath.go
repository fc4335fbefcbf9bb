package tokencore

import "strings"

// maxClaimPathDepth bounds the nested objects a dotted claim name walks.
const maxClaimPathDepth = 8

// Lookup returns the claim called name. The exact top-level member wins
// (namespaced claims such as "https://example.com/roles" contain dots);
// when there is none and name has dots, it is a path through nested
// objects: "realm_access.roles" is the member roles of the object
// realm_access (Keycloak). A path of more than maxClaimPathDepth steps, or
// one that meets a non-object, finds nothing.
func (c *Claims) Lookup(name string) (any, bool) {
	if v, ok := c.Raw[name]; ok {
		return v, true
	}
	if !strings.Contains(name, ".") || strings.Count(name, ".") >= maxClaimPathDepth {
		return nil, false
	}
	var cur any = c.Raw
	for step := range strings.SplitSeq(name, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[step]; !ok {
			return nil, false
		}
	}
	return cur, true
}
