package sandbox

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

// TestKubeletCertificates checks the certificates of the API server's connection to kwok's
// kubelet endpoint: kwok's serving certificate is valid for the nodes' InternalIP under the
// sandbox's CA (--kubelet-certificate-authority), and the API server's client certificate is a
// client certificate of the same CA.
func TestKubeletCertificates(t *testing.T) {
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(p.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		t.Fatalf("%s holds no certificate", p.CA)
	}
	for _, tc := range []struct {
		cert, key string
		usage     x509.ExtKeyUsage
		host      string
	}{
		{p.KubeletServingCert, p.KubeletServing, x509.ExtKeyUsageServerAuth, kubeletIP},
		{p.KubeletClientCert, p.KubeletClient, x509.ExtKeyUsageClientAuth, ""},
	} {
		pair, err := tls.LoadX509KeyPair(tc.cert, tc.key)
		if err != nil {
			t.Fatalf("%s and %s: %v", tc.cert, tc.key, err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
			t.Errorf("%s does not verify for %q under the sandbox's CA: %v", tc.cert, tc.host, err)
		}
	}
}
