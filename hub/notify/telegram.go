package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// telegram sends through the Bot API's sendMessage, as plain text (no
// parse mode: nothing in a text needs escaping).
type telegram struct {
	client *http.Client
	base   string // https://api.telegram.org
	token  string // never logged, never in an error
}

// maxTelegramText is sendMessage's longest text, in characters.
const maxTelegramText = 4096

type sendMessage struct {
	ChatID                string `json:"chat_id"`
	Text                  string `json:"text"`
	DisableWebPagePreview bool   `json:"disable_web_page_preview"`
}

func (t *telegram) send(ctx context.Context, d *delivery, r *Recipient) error {
	text := plainText(&d.Message)
	if rs := []rune(text); len(rs) > maxTelegramText {
		text = string(rs[:maxTelegramText-1]) + "…"
	}
	body, err := json.Marshal(sendMessage{ChatID: r.Telegram, Text: text, DisableWebPagePreview: true})
	if err != nil {
		return fmt.Errorf("%w: telegram: %v", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/bot"+t.token+"/sendMessage", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: telegram: %s/bot<token>/sendMessage: %v", ErrPermanent, t.base, errors.Unwrap(err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// the URL holds the token: name the API without it
			ue.URL = t.base + "/bot<token>/sendMessage"
		}
		return fmt.Errorf("telegram: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusNotFound:
		// a wrong token (the API answers 404 to an unknown bot): hub.yaml
		// is fixed and the hub restarted within MaxAge, so keep the queue
		resp.Body.Close()
		return fmt.Errorf("telegram: %s: check notify.telegram.token_file", resp.Status)
	}
	return httpStatus("telegram", resp)
}
