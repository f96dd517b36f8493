package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/vpnbot/vpnbot/pkg/localstack"
)

// Kind is a kind of fault the schedule plays.
type Kind string

// The kinds of faults.
const (
	// KindKill is a SIGKILL of one process, started again after Fault.For.
	KindKill Kind = "kill"
	// KindNATS is the broker (a node of it: Fault.Node) stopped and started
	// again after For.
	KindNATS Kind = "nats-down"
	// KindPostgres cuts every connection to PostgreSQL for For.
	KindPostgres Kind = "postgres-cut"
	// KindPanel makes one VPN panel (Fault.Panel) answer 500 for For: with
	// failover, new users are placed on the other meanwhile.
	KindPanel Kind = "panel-failing"
	// KindTelegram makes Telegram's sending methods answer 429 for For.
	KindTelegram Kind = "telegram-429"
)

// Fault is one entry of the schedule.
type Fault struct {
	At   time.Duration // after the drive began
	Kind Kind
	// Target is the process a KindKill hits.
	Target localstack.ServiceID
	// Node is the broker node a KindNATS stops: 0 while there is one.
	Node int
	// Panel is the name of the panel a KindPanel fails.
	Panel string
	For   time.Duration
}

func (f Fault) String() string {
	switch f.Kind {
	case KindKill:
		return fmt.Sprintf("kill %s", f.Target.Label)
	case KindNATS:
		return fmt.Sprintf("NATS node %d down", f.Node)
	case KindPanel:
		return fmt.Sprintf("panel %s failing", f.Panel)
	}
	return string(f.Kind)
}

// Layout is what the schedule may break: the processes it may kill, the
// broker's nodes and the VPN panels, by name. A cluster of brokers is more
// nodes; a fault of a kind the layout lacks is left out.
type Layout struct {
	Processes []localstack.ServiceID
	NATSNodes int
	Panels    []string
}

// The shape of a schedule.
const (
	// killEvery is the period of the kills: one in each minute of the run.
	killEvery = time.Minute
	// warmup passes before the first fault, so that the users are in.
	warmup = 15 * time.Second
	// maxQuietTail is the end of the run left without faults (a fifth of
	// it at most): the last figures show the system recovered, not hurt.
	maxQuietTail = time.Minute
)

// outage is a fault that plays once in a run, and for how long at most.
type outage struct {
	kind Kind
	long time.Duration
}

// outages are the faults that each play once: a slot of the run is each
// one's, so they never overlap one another (a kill may fall into any). In a
// short run the slots are short, and an outage lasts most of its slot
// instead.
var outages = []outage{
	{KindNATS, 10 * time.Second},
	{KindPostgres, 20 * time.Second},
	{KindPanel, time.Minute},
	{KindTelegram, 30 * time.Second},
}

// Plan is the fault schedule of a run of length d: the same seed, length
// and layout always give the same schedule, in order of At.
func Plan(seed int64, d time.Duration, l Layout) []Fault {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x50a4))
	tail := min(maxQuietTail, d/5)
	last := d - tail // no fault starts after it, and each ends by it
	var plan []Fault

	// Kills: one per minute, at a random moment of its second third (the
	// first minute's after the warm-up), of a random replica of a random
	// service, down 2–8 s.
	var names []string
	byName := map[string][]localstack.ServiceID{}
	for _, p := range l.Processes {
		if byName[p.Name] == nil {
			names = append(names, p.Name)
		}
		byName[p.Name] = append(byName[p.Name], p)
	}
	for minute := time.Duration(0); len(names) > 0; minute += killEvery {
		at := max(minute, warmup) + randDur(rng, killEvery/3)
		down := 2*time.Second + randDur(rng, 6*time.Second)
		if at+down > last {
			break
		}
		replicas := byName[names[rng.IntN(len(names))]]
		plan = append(plan, Fault{At: at, Kind: KindKill, Target: replicas[rng.IntN(len(replicas))], For: down})
	}

	// Outages: once each, in an order of the seed's, each in its own slot.
	kinds := slices.Clone(outages)
	if l.NATSNodes == 0 {
		kinds = slices.DeleteFunc(kinds, func(o outage) bool { return o.kind == KindNATS })
	}
	if len(l.Panels) == 0 {
		kinds = slices.DeleteFunc(kinds, func(o outage) bool { return o.kind == KindPanel })
	}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	slot := (last - warmup) / time.Duration(len(kinds))
	for i, o := range kinds {
		length := min(o.long, slot*4/5)
		at := warmup + time.Duration(i)*slot + randDur(rng, slot-length)
		f := Fault{At: at, Kind: o.kind, For: length}
		switch o.kind {
		case KindNATS:
			f.Node = rng.IntN(l.NATSNodes)
		case KindPanel:
			// One of them: the others take the new users.
			f.Panel = l.Panels[rng.IntN(len(l.Panels))]
		}
		plan = append(plan, f)
	}
	slices.SortStableFunc(plan, func(a, b Fault) int { return int(a.At - b.At) })
	return plan
}

// randDur is a random duration in [0, d), whole milliseconds.
func randDur(rng *rand.Rand, d time.Duration) time.Duration {
	if d < time.Millisecond {
		return 0
	}
	return time.Duration(rng.Int64N(int64(d/time.Millisecond))) * time.Millisecond
}
