package edi_test

import (
	"crypto/ecdsa"
	"fmt"
	"time"

	"github.com/tokengate/tokengate/tokencore/edi"
)

// Example_refresh shows the core of POST /auth/v1/token/refresh (spec §5.2):
// verify the EDI token first, then the PASTA token without its expiry, then
// mint both again from one clock reading. Pair binding and revocation are
// the endpoint's; they are left out here.
func Example_refresh() {
	ediKey, _ := edi.GenerateEDIKey()
	pastaKey, _ := edi.GeneratePastaKey()
	ediSigner, _ := edi.NewSigner(ediKey, "")
	pastaSigner, _ := edi.NewPastaSigner(pastaKey)
	ediVerifier, _ := edi.NewVerifier([]*ecdsa.PublicKey{ediSigner.Public()})
	pastaVerifier, _ := edi.NewPastaVerifier(pastaSigner.Public())

	// A pair as a client holds it: the PASTA token has expired, the EDI
	// token has not.
	uid := "uid=alice,o=EDI,dc=edirepository,dc=org"
	issued := time.Now().Add(-7 * time.Hour)
	oldPasta, _ := pastaSigner.Sign(edi.NewPastaToken(uid, issued.Add(-time.Minute), "vetted", "authenticated"))
	oldEDI, _ := ediSigner.Sign(edi.Claims{
		Subject: edi.EDIID(uid), IdPUID: &uid,
		Issuer: edi.DefaultIssuer, HostedDomain: edi.DefaultHostedDomain,
		IssuedAt: issued, NotBefore: issued, ExpiresAt: issued.Add(edi.DefaultEDITTL),
	})

	claims, err := ediVerifier.Verify(oldEDI)
	if err != nil {
		fmt.Println("Attempted to refresh invalid edi-token:", err)
		return
	}
	pasta, err := pastaVerifier.Verify(oldPasta)
	if err != nil {
		fmt.Println("Attempted to refresh invalid pasta-token:", err)
		return
	}
	now := time.Now()
	fmt.Println("PASTA expired:", pasta.Expired(now))

	newPasta, _ := pastaSigner.Sign(pasta.WithExpiry(now.Add(edi.DefaultPastaTTL)))
	newEDI, _ := ediSigner.Sign(claims.Refreshed(now, edi.DefaultEDITTL))

	p, _ := pastaVerifier.Verify(newPasta)
	c, _ := ediVerifier.Verify(newEDI)
	fmt.Println("PASTA expired:", p.Expired(now), p.UID, p.Groups)
	fmt.Println("EDI subject:", c.Subject)
	upstream, _ := p.Internal() // the auth-token cookie PASTA services get
	fmt.Println("internal form is unsigned:", len(upstream) < len(newPasta))
	// Output:
	// PASTA expired: true
	// PASTA expired: false uid=alice,o=EDI,dc=edirepository,dc=org [vetted authenticated]
	// EDI subject: EDI-581f8a60cb1482332e92fb44c67078293df21d6c
	// internal form is unsigned: true
}
