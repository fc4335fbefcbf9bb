package tokencore

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestSecretHashes(t *testing.T) {
	bc, _ := bcrypt.GenerateFromPassword([]byte("s3c"), bcrypt.MinCost)
	tests := []struct {
		hash, secret string
		valid, match bool
	}{
		{HashSecret("test"), "test", true, true},
		{"sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "test", true, true},
		{"sha256:n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg", "test", true, true},
		{HashSecret("test"), "Test", true, false},
		{HashSecret("test"), "", true, false},
		{string(bc), "s3c", true, true},
		{string(bc), "s3C", true, false},
		{"sha256:abcd", "x", false, false},
		{"md5:abcd", "x", false, false},
		{"test", "test", false, false},
		{"$2a$garbage", "x", false, false},
	}
	for _, tc := range tests {
		if err := ValidateSecretHash(tc.hash); (err == nil) != tc.valid {
			t.Errorf("ValidateSecretHash(%q) = %v", tc.hash, err)
		}
		if got := VerifySecretHash(tc.hash, tc.secret); got != tc.match {
			t.Errorf("VerifySecretHash(%q, %q) = %v", tc.hash, tc.secret, got)
		}
	}
}
