package control

import "wirenet/Sources/ControlHelper/netmap"

func newTableForTest() *netmap.Table { return netmap.NewTable() }
