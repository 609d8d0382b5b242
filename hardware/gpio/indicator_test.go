package gpio

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// leds returns an indicator on recorded outputs; amber only if withAmber.
func leds(t *testing.T, withAmber, activeLow bool) (*Indicator, *recorder) {
	t.Helper()
	rec := &recorder{zero: time.Now()}
	c := IndicatorConfig{Green: newOutPin(t, "green", rec), Red: newOutPin(t, "red", rec), Buzzer: newOutPin(t, "buzzer", rec), ActiveLow: activeLow}
	if withAmber {
		c.Amber = newOutPin(t, "amber", rec)
	}
	ind, err := NewIndicator(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ind, rec
}

// timeline shows writes as "0 green=High, 150 buzzer=Low".
func timeline(ws []write) string {
	var s []string
	for _, w := range ws {
		s = append(s, fmt.Sprintf("%d %s=%s", w.at, w.pin, w.level))
	}
	return strings.Join(s, ", ")
}

func TestIndicatorPatterns(t *testing.T) {
	for _, tc := range []struct {
		name string
		want string
	}{
		{Granted, "0 green=High, 0 buzzer=High, 150 buzzer=Low, 2000 green=Low"},
		{Denied, "0 red=High, 0 buzzer=High, 100 buzzer=Low, 200 buzzer=High, 300 buzzer=Low, " +
			"400 buzzer=High, 500 buzzer=Low, 2000 red=Low"},
		// one chirp, then amber blinks until something replaces it
		{Waiting, "0 amber=High, 0 buzzer=High, 50 buzzer=Low, 500 amber=Low, 1000 amber=High, " +
			"1500 amber=Low, 2000 amber=High, 2500 amber=Low, 3000 amber=High, 3500 amber=Low"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ind, rec := leds(t, true, false)
				rec.reset()
				if err := ind.Play(tc.name); err != nil {
					t.Fatal(err)
				}
				time.Sleep(3900 * time.Millisecond)
				synctest.Wait()
				if got := timeline(rec.writes()); got != tc.want {
					t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
				}
				if err := ind.Halt(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// TestIndicatorReplace: the escort's tap resolves the wait; the grant
// replaces the blinking at once.
func TestIndicatorReplace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ind, rec := leds(t, true, false)
		if err := ind.Play(Waiting); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
		rec.reset()
		if err := ind.Play(Granted); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		want := "0 green=High, 0 amber=Low, 0 buzzer=High, 150 buzzer=Low, 2000 green=Low"
		if got := timeline(rec.writes()); got != want {
			t.Errorf("granted after waiting:\n got %s\nwant %s", got, want)
		}
	})
}

// TestIndicatorAmberFromGreenAndRed: without an amber LED, amber lights
// green and red together (a bi-colour LED).
func TestIndicatorAmberFromGreenAndRed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ind, rec := leds(t, false, false)
		rec.reset()
		if err := ind.Play(Waiting); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1200 * time.Millisecond)
		if err := ind.Off(); err != nil {
			t.Fatal(err)
		}
		want := "0 green=High, 0 red=High, 0 buzzer=High, 50 buzzer=Low, 500 green=Low, 500 red=Low, " +
			"1000 green=High, 1000 red=High, 1200 green=Low, 1200 red=Low, 1200 buzzer=Low"
		if got := timeline(rec.writes()); got != want {
			t.Errorf("waiting without an amber LED, then Off:\n got %s\nwant %s", got, want)
		}
	})
}

func TestIndicatorHalt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ind, rec := leds(t, true, true)
		if got, want := timeline(rec.writes()), "0 green=High, 0 red=High, 0 amber=High, 0 buzzer=High"; got != want {
			t.Errorf("NewIndicator, active-low: %s; want every output off: %s", got, want)
		}
		if err := ind.Play(Waiting); err != nil {
			t.Fatal(err)
		}
		time.Sleep(700 * time.Millisecond)
		rec.reset()
		for range 2 {
			if err := ind.Halt(); err != nil {
				t.Fatal(err)
			}
		}
		if err := ind.Play(Granted); !errors.Is(err, ErrHalted) {
			t.Errorf("Play after Halt = %v; want ErrHalted", err)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		want := "0 green=High, 0 red=High, 0 amber=High, 0 buzzer=High, 0 green=High, 0 red=High, 0 amber=High, 0 buzzer=High"
		if got := timeline(rec.writes()); got != want {
			t.Errorf("after two Halts:\n got %s\nwant %s (everything off, twice, nothing after)", got, want)
		}
	})
}

func TestIndicatorRefuses(t *testing.T) {
	ind, _ := leds(t, true, false)
	if err := ind.Play("party"); err == nil {
		t.Error("Play of an unknown pattern succeeded")
	}
	_, err := NewIndicator(IndicatorConfig{Patterns: map[string]Pattern{"spin": {Loop: []Step{{Light: Red}}}}}, nil)
	if err == nil {
		t.Error("a pattern looping with no duration was taken")
	}
	_, err = NewIndicator(IndicatorConfig{Patterns: map[string]Pattern{"back": {Steps: []Step{{For: -time.Second}}}}}, nil)
	if err == nil {
		t.Error("a step of negative duration was taken")
	}
	// no outputs at all: a door without LEDs plays into nothing
	none, err := NewIndicator(IndicatorConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := none.Play(Granted); err != nil {
		t.Fatal(err)
	}
	if err := none.Halt(); err != nil {
		t.Fatal(err)
	}
	if got, want := ind.String(), "indicator(amber=amber, buzzer=buzzer, green=green, red=red)"; got != want {
		t.Errorf("String() = %q; want %q", got, want)
	}
	if err := ind.Halt(); err != nil {
		t.Fatal(err)
	}
}
