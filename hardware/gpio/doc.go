// Package gpio is the door's GPIO hardware on a Raspberry Pi: the reed
// switches of the door and the racks and the exit button (Input, fed to a
// hardware.Sink by WatchDoor, WatchRack, WatchExitButton or Sensors), the
// lock's relay (Relay, which implements the agent's Relay interface), and
// the LEDs and buzzer (Indicator).
//
// It works on periph's role interfaces (gpio.PinIn for an input,
// gpio.PinOut for an output), so tests run on gpiotest.Pin and the Pi on
// real pins. It must never initialise the host or look pins up by name
// (host.Init and gpioreg.ByName belong to cmd), never import the agent, and
// never read back an output pin: on the Pi that turns it into an input
// with pull-up, which would move the relay. Its state is kept in software.
//
// Every WaitForEdge it makes has a positive timeout, and PositiveTimeouts
// gives other drivers (mfrc522's IRQ pin) the same: periph's gpioioctl,
// behind every bcm283x pin, waits for ever on 0 and returns at once on -1,
// the reverse of the gpio.PinIn contract that gpiotest follows. Every wait
// ends with its context or its timeout.
//
// The relay's level for "locked" follows from the driver (active-high or
// active-low) and the lock (FailSecure strike: energised = unlocked;
// FailSafe maglock: energised = locked). NewRelay drives it before it
// returns and Halt drives it again. For a maglock that safe state is
// "locked" while a power loss releases the door, as fire codes require; its
// push-to-exit button must cut the lock's power in hardware.
//
// Debounce and Poll are decorators returning the same interface, as
// periph's gpioutil does: Debounce filters a bouncing contact over edges,
// Poll makes edges by reading the level where the driver has no edge
// detection.
package gpio
