package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/kunci-project/kunci/sync/mqttlink"
)

// linkSecrets reads a link's password file and TLS files (mqtt.* of
// agent.yaml and hub.yaml) into o.
func linkSecrets(o *mqttlink.Options, passwordFile, caFile, certFile, keyFile string) error {
	if passwordFile != "" {
		b, err := os.ReadFile(passwordFile)
		if err != nil {
			return fmt.Errorf("mqtt.password_file: %w", err)
		}
		o.Password = strings.TrimSpace(string(b))
	}
	if caFile != "" || certFile != "" {
		tc, err := mqttlink.TLSConfig(caFile, certFile, keyFile)
		if err != nil {
			return err
		}
		o.TLS = tc
	}
	return nil
}
