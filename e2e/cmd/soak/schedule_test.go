package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vpnbot/vpnbot/pkg/localstack"
)

var layout = Layout{
	Processes: []localstack.ServiceID{
		{Name: localstack.Gateway, Label: "gateway"},
		{Name: localstack.BotHandler, Replica: 0, Label: "bot-handler-0"},
		{Name: localstack.BotHandler, Replica: 1, Label: "bot-handler-1"},
		{Name: localstack.Sender, Replica: 0, Label: "sender-0"},
		{Name: localstack.Sender, Replica: 1, Label: "sender-1"},
	},
	NATSNodes: 1,
	Panels:    []string{"outline", "outline-2"},
}

func TestPlanIsTheSeedsAndHasEveryFaultInItsPlace(t *testing.T) {
	const d = 10 * time.Minute
	plan := Plan(7, d, layout)
	require.Equal(t, plan, Plan(7, d, layout), "the same seed, the same schedule")
	require.NotEqual(t, plan, Plan(8, d, layout), "another seed, another schedule")

	kills, outages := 0, map[Kind]int{}
	last := d - maxQuietTail
	for i, f := range plan {
		require.GreaterOrEqual(t, f.At, warmup, "%v", f)
		require.LessOrEqual(t, f.At+f.For, last, "%v ends in the quiet tail", f)
		if i > 0 {
			require.GreaterOrEqual(t, f.At, plan[i-1].At, "in order")
		}
		if f.Kind == KindKill {
			kills++
			require.Contains(t, layout.Processes, f.Target)
			require.GreaterOrEqual(t, f.For, 2*time.Second)
			continue
		}
		outages[f.Kind]++
	}
	require.Equal(t, 9, kills, "one a minute until the quiet tail")
	require.Equal(t, map[Kind]int{KindNATS: 1, KindPostgres: 1, KindPanel: 1, KindTelegram: 1}, outages)
	for i, f := range plan {
		for _, g := range plan[i+1:] {
			if f.Kind != KindKill && g.Kind != KindKill {
				require.LessOrEqual(t, f.At+f.For, g.At, "outages %v and %v overlap", f, g)
			}
		}
	}
	for _, f := range plan {
		switch f.Kind {
		case KindPostgres:
			require.Equal(t, 20*time.Second, f.For)
		case KindPanel:
			require.Equal(t, time.Minute, f.For)
			require.Contains(t, layout.Panels, f.Panel, "one of the panels fails")
		}
	}
}

func TestPlanFitsAShortRunAndAClusterLayout(t *testing.T) {
	plan := Plan(1, 2*time.Minute, Layout{Processes: layout.Processes, NATSNodes: 3})
	nodes := 0
	for _, f := range plan {
		require.LessOrEqual(t, f.At+f.For, 2*time.Minute, "%v", f)
		if f.Kind == KindNATS {
			nodes++
			require.Less(t, f.Node, 3)
		}
	}
	require.Equal(t, 1, nodes)

	for _, f := range Plan(1, 2*time.Minute, Layout{Processes: layout.Processes}) {
		require.NotEqual(t, KindNATS, f.Kind, "no broker, no broker fault")
		require.NotEqual(t, KindPanel, f.Kind, "no panel, no panel fault")
	}
}
