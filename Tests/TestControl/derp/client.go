package derp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// client is one connection of a node to the relay, after the handshake.
//
// Two goroutines serve it: run reads frames (and enqueues packets for other
// clients), sendLoop is the only writer. Everything that reaches sendLoop goes
// through bounded channels, so a client that stops reading costs at most its
// queues' worth of memory and is disconnected after WriteTimeout.
type client struct {
	s          *Server
	nc         net.Conn
	key        Key
	info       ClientInfo
	canMesh    bool
	remoteAddr *net.TCPAddr
	br         *bufio.Reader
	bw         *bufio.Writer

	sendQueue    chan packet // WireGuard packets for this client
	discoQueue   chan packet // disco packets, so a WireGuard flood cannot starve them
	controlQueue chan controlFrame
	pongQueue    chan [pingLen]byte

	done      chan struct{}
	closeOnce sync.Once

	preferred atomic.Bool

	// watching: keys whose departure this client is told of (guarded by s.mu).
	watching map[Key]struct{}

	// Reader-goroutine state.
	exchanged map[Key]*client // destinations already passed to noteExchange
	notHere   tokenBucket
}

// packet is a payload queued for delivery, with its sender.
type packet struct {
	src  Key
	data []byte
}

// controlFrame is a PeerGone or PeerPresent frame queued for delivery.
type controlFrame struct {
	t       FrameType
	payload []byte
}

var (
	errFrameTooLong = errors.New("derp: frame longer than allowed")
	errFrameSize    = errors.New("derp: frame has the wrong size for its type")
	errNotMesh      = errors.New("derp: mesh-only frame from a client without the mesh key")
)

func newClient(s *Server, nc net.Conn, key Key, info ClientInfo, br *bufio.Reader, bw *bufio.Writer) *client {
	depth := s.SendQueueDepth
	if depth <= 0 {
		depth = DefaultSendQueueDepth
	}
	addr, _ := nc.RemoteAddr().(*net.TCPAddr)
	return &client{
		s:            s,
		nc:           nc,
		key:          key,
		info:         info,
		canMesh:      s.isMeshPeer(info),
		remoteAddr:   addr,
		br:           br,
		bw:           bw,
		sendQueue:    make(chan packet, depth),
		discoQueue:   make(chan packet, depth),
		controlQueue: make(chan controlFrame, controlQueueDepth),
		pongQueue:    make(chan [pingLen]byte, 1),
		done:         make(chan struct{}),
		watching:     make(map[Key]struct{}),
		exchanged:    make(map[Key]*client),
		notHere:      tokenBucket{burst: notHereBurst, interval: notHereInterval},
	}
}

// close ends the connection; both goroutines then return. Safe to call twice.
func (c *client) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		_ = c.nc.Close()
	})
}

func (c *client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// presentFlags describes c in PeerPresent frames (derpserver.go presentFlags).
func (c *client) presentFlags() byte {
	var f byte
	if c.info.IsProber {
		f |= peerPresentIsProber
	}
	if c.canMesh {
		f |= peerPresentIsMeshPeer
	}
	if f == 0 {
		f = peerPresentIsRegular
	}
	return f
}

// run reads frames until the connection ends. It returns nil when the client
// hung up or was closed by the relay.
func (c *client) run() error {
	sendDone := make(chan error, 1)
	go func() { sendDone <- c.sendLoop() }()
	err := c.readLoop()
	c.close()
	sendErr := <-sendDone
	c.drainQueues()
	if err != nil {
		return err
	}
	if sendErr != nil && !errors.Is(sendErr, net.ErrClosed) {
		return fmt.Errorf("%v: write: %w", c.key, sendErr)
	}
	return nil
}

// readLoop dispatches frames from the client.
func (c *client) readLoop() error {
	for {
		t, n, err := readFrameHeader(c.br)
		if err != nil {
			if errors.Is(err, io.EOF) || c.isClosed() {
				return nil
			}
			return err
		}
		switch t {
		case FrameSendPacket:
			err = c.handleSendPacket(n)
		case FrameNotePreferred:
			err = c.handleNotePreferred(n)
		case FramePing:
			err = c.handlePing(n)
		case FrameWatchConns:
			err = c.handleWatchConns(n)
		case FrameClosePeer:
			err = c.handleClosePeer(n)
		default:
			err = c.skipFrame(n)
		}
		if err != nil {
			if c.isClosed() {
				return nil
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				c.s.counters.protocolErrors.Add(1)
			}
			return fmt.Errorf("%v: frame %#x len %d: %w", c.key, byte(t), n, err)
		}
	}
}

// handleSendPacket relays one packet (SendPacket: 32 B destination + packet).
func (c *client) handleSendPacket(n uint32) error {
	if n < keyLen {
		return errFrameSize
	}
	if n-keyLen > MaxPacketSize {
		return errFrameTooLong
	}
	var dstKey Key
	if _, err := io.ReadFull(c.br, dstKey[:]); err != nil {
		return err
	}
	data := make([]byte, n-keyLen)
	if _, err := io.ReadFull(c.br, data); err != nil {
		return err
	}
	s := c.s
	s.counters.packetsReceived.Add(1)
	isDisco := looksLikeDisco(data)
	if isDisco {
		s.counters.discoReceived.Add(1)
	}
	dst := s.lookup(dstKey)
	if dst == nil {
		s.recordDrop(DropUnknownDestination)
		// Not-here replies only for disco, rate-limited (derpserver.go
		// requestPeerGoneWriteLimited): a peer probing a stale relay learns
		// quickly, a WireGuard flood does not turn into a PeerGone flood.
		if isDisco && c.notHere.allow(time.Now()) {
			c.queueControl(FramePeerGone, peerGonePayload(dstKey, PeerGoneNotHere))
			s.counters.peerGoneNotHere.Add(1)
		}
		return nil
	}
	if c.exchanged[dstKey] != dst {
		c.exchanged[dstKey] = dst
		s.noteExchange(c, dst)
	}
	dst.enqueue(packet{src: c.key, data: data})
	return nil
}

// enqueue queues p for delivery. When the queue is full the oldest packet is
// dropped so fresher ones get through (derpserver.go sendPkt); the sender is
// never blocked.
func (c *client) enqueue(p packet) {
	q := c.sendQueue
	if looksLikeDisco(p.data) {
		q = c.discoQueue
	}
	for attempt := 0; attempt < 3; attempt++ {
		if c.isClosed() {
			c.s.recordDrop(DropDestinationGone)
			return
		}
		select {
		case q <- p:
			return
		default:
		}
		select {
		case <-q:
			c.s.recordDrop(DropQueueFull)
		default:
		}
	}
	c.s.recordDrop(DropQueueFull)
}

// queueControl queues a PeerGone/PeerPresent frame, dropping it (counted) if
// the client is not reading them.
func (c *client) queueControl(t FrameType, payload []byte) {
	select {
	case c.controlQueue <- controlFrame{t: t, payload: payload}:
	default:
		c.s.counters.controlDropped.Add(1)
	}
}

// handleNotePreferred records whether this relay is the client's home.
func (c *client) handleNotePreferred(n uint32) error {
	if n != 1 {
		return errFrameSize
	}
	b, err := c.br.ReadByte()
	if err != nil {
		return err
	}
	c.preferred.Store(b != 0)
	return nil
}

// handlePing queues a Pong echoing the first 8 bytes. A client pinging faster
// than it reads loses the extra pongs.
func (c *client) handlePing(n uint32) error {
	if n < pingLen || n > maxPingLen {
		return errFrameSize
	}
	c.s.counters.pings.Add(1)
	var m [pingLen]byte
	if _, err := io.ReadFull(c.br, m[:]); err != nil {
		return err
	}
	if _, err := c.br.Discard(int(n - pingLen)); err != nil {
		return err
	}
	select {
	case c.pongQueue <- m:
	default:
		c.s.counters.pongsDropped.Add(1)
	}
	return nil
}

// handleWatchConns subscribes a mesh peer to presence changes.
func (c *client) handleWatchConns(n uint32) error {
	if n != 0 {
		return errFrameSize
	}
	if !c.canMesh {
		return errNotMesh
	}
	c.s.addMeshWatcher(c)
	return nil
}

// handleClosePeer lets a mesh peer disconnect a key.
func (c *client) handleClosePeer(n uint32) error {
	if n != keyLen {
		return errFrameSize
	}
	var k Key
	if _, err := io.ReadFull(c.br, k[:]); err != nil {
		return err
	}
	if !c.canMesh {
		return errNotMesh
	}
	if target := c.s.lookup(k); target != nil {
		target.close()
	}
	return nil
}

// skipFrame discards a frame the relay does not act on (KeepAlive from a
// client, types from newer protocol versions).
func (c *client) skipFrame(n uint32) error {
	if n > maxFrameLen {
		return errFrameTooLong
	}
	c.s.counters.unknownFrames.Add(1)
	_, err := c.br.Discard(int(n))
	return err
}

// drainQueues counts packets still queued when the client left.
func (c *client) drainQueues() {
	for {
		select {
		case <-c.sendQueue:
		case <-c.discoQueue:
		default:
			return
		}
		c.s.recordDrop(DropDestinationGone)
	}
}
