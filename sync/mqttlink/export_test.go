package mqttlink

// ScanPackets runs a packet scanner of max over stream in reads of chunk
// bytes, for the fuzz test.
func ScanPackets(stream []byte, max, chunk int) error {
	s := packetScanner{max: max}
	for len(stream) > 0 {
		n := min(chunk, len(stream))
		if err := s.scan(stream[:n]); err != nil {
			return err
		}
		stream = stream[n:]
	}
	return nil
}
