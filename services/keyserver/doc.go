// Command keyserver answers Outline's dynamic access keys: GET /k/{token}
// on HTTP_ADDR gives the Outline client of the user whose account carries
// the token the key their account has now, read from the database at each
// request; see internal/keyserver. It is stateless and runs behind the
// public KEYSERVER_URL that activation puts in the links.
package main
