package derp

import (
	"time"
)

// sendLoop is the only writer to the client. It flushes only when nothing
// more is queued, so bursts go out in few TLS records and syscalls
// (derpserver.go sendLoop batches the same way).
func (c *client) sendLoop() error {
	interval := orDefault(c.s.KeepAliveInterval, DefaultKeepAliveInterval)
	keepAlive := time.NewTicker(interval)
	defer keepAlive.Stop()
	writeTimeout := orDefault(c.s.WriteTimeout, DefaultWriteTimeout)
	for {
		var err error
		select {
		case <-c.done:
			return nil
		case f := <-c.controlQueue:
			err = c.writeFrame(writeTimeout, f.t, f.payload)
		case p := <-c.discoQueue:
			err = c.writePacket(writeTimeout, p)
		case p := <-c.sendQueue:
			err = c.writePacket(writeTimeout, p)
		case m := <-c.pongQueue:
			err = c.writeFrame(writeTimeout, FramePong, m[:])
		case <-keepAlive.C:
			c.s.counters.keepAlives.Add(1)
			err = c.writeFrame(writeTimeout, FrameKeepAlive, nil)
		}
		if err == nil && c.queuesEmpty() && c.bw.Buffered() > 0 {
			// Whatever is enqueued after this check wakes the select above
			// at once and is flushed after it.
			_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			err = c.bw.Flush()
		}
		if err != nil {
			c.close()
			return err
		}
	}
}

// queuesEmpty reports whether nothing waits to be written.
func (c *client) queuesEmpty() bool {
	return len(c.controlQueue) == 0 && len(c.discoQueue) == 0 && len(c.sendQueue) == 0 && len(c.pongQueue) == 0
}

// writeFrame buffers one frame; a write that reaches the socket (buffer full)
// must finish within timeout.
func (c *client) writeFrame(timeout time.Duration, t FrameType, payload []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	return writeFrame(c.bw, t, payload)
}

// writePacket buffers a RecvPacket frame (v2: source key + packet). The packet
// counts as relayed from the moment the writer takes it from the queue.
func (c *client) writePacket(timeout time.Duration, p packet) error {
	c.s.counters.packetsRelayed.Add(1)
	c.s.counters.bytesRelayed.Add(uint64(len(p.data)))
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	err := writeFrameHeader(c.bw, FrameRecvPacket, uint32(keyLen+len(p.data)))
	if err == nil {
		_, err = c.bw.Write(p.src[:])
	}
	if err == nil {
		_, err = c.bw.Write(p.data)
	}
	if err != nil {
		c.s.counters.packetsRelayed.Add(^uint64(0))
		c.s.counters.bytesRelayed.Add(^uint64(len(p.data) - 1))
		c.s.recordDrop(DropWriteError)
		return err
	}
	return nil
}
