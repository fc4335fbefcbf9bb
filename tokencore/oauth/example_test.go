package oauth_test

import (
	"fmt"

	"github.com/tokengate/tokengate/tokencore/oauth"
)

// A token endpoint parses the body, authenticates the client, and answers
// an *oauth.Error with its status, headers and body when anything fails.
func ExampleClients_Authenticate() {
	clients, err := oauth.NewClients([]oauth.Client{
		{ID: "DIRAC_CLI", AuthMethod: oauth.AuthNone, GrantTypes: []string{oauth.GrantTypeRefreshToken}},
		{ID: "DIRAC_Web", AuthMethod: oauth.AuthClientSecretBasic, SecretHash: oauth.HashSecret("s3cret"),
			GrantTypes: []string{oauth.GrantTypeRefreshToken}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	form, _ := oauth.ParseForm([]byte("grant_type=refresh_token&refresh_token=x&client_id=DIRAC_CLI"), 0)
	client, _ := clients.Authenticate("", form)
	fmt.Println(client.ID, client.AllowsGrant(oauth.GrantTypeRefreshToken))

	// "DIRAC_Web:wrong", base64-encoded.
	form, _ = oauth.ParseForm([]byte("grant_type=refresh_token&refresh_token=x"), 0)
	_, oerr := clients.Authenticate("Basic RElSQUNfV2ViOndyb25n", form)
	fmt.Println(oerr.HTTPStatus(), string(oerr.Body()))
	fmt.Println(oerr.WWWAuthenticate())
	// Output:
	// DIRAC_CLI true
	// 401 {"error":"invalid_client","error_description":"The client cannot authenticate with methods: ['client_secret_basic', 'client_secret_post', 'none']"}
	// Basic error="invalid_client", error_description="The client cannot authenticate with methods: ['client_secret_basic', 'client_secret_post', 'none']"
}
