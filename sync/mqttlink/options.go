package mqttlink

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// LoadSecrets reads a link's password file (its content, trimmed) and its
// TLS files (TLSConfig) into o: the mqtt.password_file, ca_file, cert_file
// and key_file of agent.yaml and hub.yaml. An empty name is not read.
func (o *Options) LoadSecrets(passwordFile, caFile, certFile, keyFile string) error {
	if passwordFile != "" {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("mqtt.password_file: %w", err)
		}
		o.Password = strings.TrimSpace(string(b))
	}
	if caFile != "" || certFile != "" {
		tc, err := TLSConfig(caFile, certFile, keyFile)
		if err != nil {
			return err
		}
		o.TLS = tc
	}
	return nil
}

// HostPort returns the host and port of a broker URL, for people to type
// (mosquitto_sub -h HOST -p PORT): the scheme's port when the URL names
// none (1883; 8883 for ssl, tls and mqtts), and 127.0.0.1 and 1883 for a
// URL without a host.
func HostPort(broker string) (host, port string) {
	u, err := url.Parse(broker)
	if err != nil || u.Host == "" {
		return "127.0.0.1", "1883"
	}
	host, port = u.Hostname(), u.Port()
	if port == "" {
		port = "1883"
		if u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" {
			port = "8883"
		}
	}
	return host, port
}
