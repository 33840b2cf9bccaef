// TcpConn's TLS layer: ciphertext from the socket goes through tls::Engine, plaintext comes out
// to the handler; see tcp_conn.hpp for the contract.

#include "agent/net/tcp_conn.hpp"

#include "agent/tls/engine.hpp"

namespace dlb::agent::net {

namespace {
// One TLS record's plaintext at most (RFC 8446 §5.1), so one SSL_read fills it at most once.
constexpr size_t kPlainChunkBytes = 16 * 1024;
thread_local char t_plain_buffer[kPlainChunkBytes];
} // namespace

void TcpConn::enableTls(std::unique_ptr<tls::Engine> engine, uint64_t handshake_ms)
{
    tls_ = std::move(engine);
    // Bytes queued before TLS was on are the first plaintext of the TLS stream.
    plain_.swap(pending_);
    uv_timer_init(tcp_.loop, &tls_timer_);
    tls_timer_.data = this;
    ++open_handles_;
    // For an outgoing connection the deadline covers the TCP connect and the handshake.
    uv_timer_start(&tls_timer_, &TcpConn::tlsTimerCb, handshake_ms, 0);
}

std::string TcpConn::tlsError() const
{
    return tls_ ? tls_->error() : std::string();
}

void TcpConn::tlsTimerCb(uv_timer_t* t)
{
    auto* self = static_cast<TcpConn*>(t->data);
    if (self->closing_)
        return;
    if (!self->tls_->established()) {
        self->tls_->setError("no TLS handshake within timeouts.tls_handshake_ms");
        self->tlsFailed(UV_ETIMEDOUT);
        return;
    }
    self->tlsDeliver(); // records that were buffered while the handler did not read
}

// libuv reads while the handshake runs (whatever the handler asked) and afterwards when the
// handler reads. Records already received are handed over from a zero timer, never from inside
// startReading(), so the handler is not re-entered.
void TcpConn::tlsUpdateReading()
{
    if (closing_)
        return;
    const bool want = tls_stop_status_ == 0 && (reading_ || !tls_->established());
    auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
    if (want && !uv_reading_)
        uv_reading_ = uv_read_start(stream, &TcpConn::allocCb, &TcpConn::readCb) == 0;
    else if (!want && uv_reading_) {
        uv_read_stop(stream);
        uv_reading_ = false;
    }
    if (reading_ && tls_->established() && (tls_->hasBufferedInput() || tls_stop_status_ != 0))
        uv_timer_start(&tls_timer_, &TcpConn::tlsTimerCb, 0, 0);
}

void TcpConn::tlsRead(const char* data, size_t len)
{
    tls_->feed(data, len);
    tlsPump();
}

void TcpConn::tlsEof(int status)
{
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    uv_reading_ = false;
    if (!tls_->established()) {
        if (tls_->error().empty())
            tls_->setError("the peer closed the connection during the TLS handshake");
        tlsFailed(status == UV_EOF ? UV_ECONNRESET : status);
        return;
    }
    // Records read before the end are still handed over first. An EOF without close_notify is
    // taken as an end too: HTTP framing, not TLS, tells a truncated message.
    tls_stop_status_ = status;
    tlsDeliver();
}

void TcpConn::tlsPump()
{
    if (!tls_->established()) {
        const auto st = tls_->handshake();
        if (st == tls::Engine::Status::Error) {
            tlsFailed(UV_EPROTO);
            return;
        }
        flush(); // handshake records
        if (closing_)
            return;
        if (st == tls::Engine::Status::WantMore) {
            tlsUpdateReading(); // an outgoing connection reads from here on
            return;
        }
        uv_timer_stop(&tls_timer_);
        tlsUpdateReading();
        if (tls_->isClient()) {
            handler_->onConnected(0);
            if (closing_)
                return;
        }
        flush(); // what the handler queued during the handshake
        if (closing_)
            return;
    }
    tlsDeliver();
}

void TcpConn::tlsDeliver()
{
    while (reading_ && !closing_) {
        size_t n = 0;
        const auto st = tls_->read(t_plain_buffer, kPlainChunkBytes, &n);
        if (tls_->hasOutput()) {
            flush(); // a KeyUpdate answer or an alert
            if (closing_)
                return;
        }
        if (st == tls::Engine::Status::Ok) {
            handler_->onRead(t_plain_buffer, n);
            continue;
        }
        if (st == tls::Engine::Status::Error) {
            tlsFailed(UV_EPROTO);
            return;
        }
        if (st == tls::Engine::Status::Closed || tls_stop_status_ != 0) {
            const int status = st == tls::Engine::Status::Closed ? UV_EOF : tls_stop_status_;
            tls_stop_status_ = status;
            reading_ = false;
            tlsUpdateReading();
            if (status == UV_EOF)
                handler_->onEof();
            else
                handler_->onReadError(status);
            return;
        }
        return; // WantMore
    }
}

void TcpConn::tlsFailed(int status)
{
    tls_stop_status_ = status;
    uv_timer_stop(&tls_timer_);
    flush(); // the alert, if the engine made one: best effort, the connection ends now
    if (closing_)
        return;
    const bool connecting = tls_->isClient() && !tls_->established();
    reading_ = false;
    tlsUpdateReading();
    if (connecting)
        handler_->onConnected(status);
    else
        handler_->onReadError(status);
}

bool TcpConn::tlsEncrypt()
{
    if (closing_)
        return false; // nothing goes out any more, and the handler is not called again
    if (tls_->established() && !hold_ && !plain_.empty()) {
        const bool ok = tls_->write(plain_);
        plain_.clear();
        if (!ok) {
            tls_->takeOutput(pending_);
            handler_->onWriteError(UV_EPROTO);
            return false;
        }
    }
    tls_->takeOutput(pending_);
    return true;
}

void TcpConn::tlsFinish()
{
    if (!tls_->established()) {
        plain_.clear(); // nothing can be sent without a handshake
        return;
    }
    if (!tlsEncrypt())
        return;
    tls_->shutdown();
    tls_->takeOutput(pending_);
}

// Closing at once: close_notify if nothing else is waiting to be written, best effort (one
// non-blocking write), so the peer tells a clean close from a cut.
void TcpConn::tlsCloseNotify()
{
    if (!tls_->established() || !tls_->error().empty() || writing_ || !pending_.empty())
        return;
    tls_->shutdown();
    std::string notify;
    tls_->takeOutput(notify);
    if (notify.empty())
        return;
    uv_buf_t buf = uv_buf_init(notify.data(), static_cast<unsigned>(notify.size()));
    uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
}

void TcpConn::drained()
{
    // Plaintext still held or a handshake still running is not "everything written".
    if (tls_ && (!tls_->established() || !plain_.empty()))
        return;
    handler_->onDrained();
}

} // namespace dlb::agent::net
