#include "agent/net/tcp_conn.hpp"

#include "agent/net/listener.hpp"
#include "agent/tls/engine.hpp"

#include <unistd.h>

namespace dlb::agent::net {

namespace {
// Reads land in one buffer per loop thread: read callbacks consume (or copy) the bytes before
// the loop reads again, so no per-connection read buffer is needed.
constexpr size_t kReadBufferBytes = 64 * 1024;
thread_local char t_read_buffer[kReadBufferBytes];
} // namespace

TcpConn::TcpConn(uv_loop_t* loop, Handler* handler, Transport transport) : transport_(transport), handler_(handler)
{
    if (transport_ == Transport::Pipe) {
        uv_pipe_init(loop, &pipe_, 0);
        pipe_.data = this;
    } else {
        uv_tcp_init(loop, &tcp_);
        tcp_.data = this;
    }
}

int TcpConn::fd() const
{
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0)
        return -1;
    return fd;
}

TcpConn::~TcpConn() = default;

int TcpConn::accept(uv_stream_t* server)
{
    return uv_accept(server, reinterpret_cast<uv_stream_t*>(&tcp_));
}

int TcpConn::open(int fd)
{
    const int rc = transport_ == Transport::Pipe ? uv_pipe_open(&pipe_, fd) : uv_tcp_open(&tcp_, fd);
    if (rc != 0)
        ::close(fd);
    return rc;
}

int TcpConn::connect(const sockaddr* addr)
{
    if (transport_ != Transport::Tcp)
        return UV_EINVAL;
    connect_req_.data = this;
    return uv_tcp_connect(&connect_req_, &tcp_, addr, &TcpConn::connectCb);
}

void TcpConn::setNoDelay()
{
    if (transport_ == Transport::Tcp)
        uv_tcp_nodelay(&tcp_, 1);
}

std::string TcpConn::peerIp() const
{
    if (transport_ == Transport::Pipe)
        return {};
    sockaddr_storage ss{};
    int len = sizeof ss;
    if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
        return {};
    return ipString(reinterpret_cast<sockaddr*>(&ss));
}

int TcpConn::startReading()
{
    if (reading_ || closing_)
        return 0;
    if (tls_) {
        reading_ = true;
        tlsUpdateReading();
        return 0;
    }
    const int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &TcpConn::allocCb, &TcpConn::readCb);
    reading_ = rc == 0;
    return rc;
}

void TcpConn::stopReading()
{
    if (tls_) {
        reading_ = false;
        tlsUpdateReading();
        return;
    }
    if (reading_ && !closing_)
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    reading_ = false;
}

void TcpConn::write(std::string_view data)
{
    pendingBuffer().append(data);
    flush();
}

void TcpConn::flush()
{
    // With TLS, plaintext (unless held) becomes ciphertext in pending_; handshake records go
    // out even while writes are held.
    if (tls_ && !tlsEncrypt())
        return; // the handler has been told
    if (writing_ || closing_ || (hold_ && !tls_) || pending_.empty())
        return;
    // Try the write synchronously first: the common small response goes out without a
    // write request and callback round.
    uv_buf_t buf = uv_buf_init(pending_.data(), static_cast<unsigned>(pending_.size()));
    const int n = uv_try_write(reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1);
    if (n == static_cast<int>(pending_.size())) {
        pending_.clear();
        if (close_after_write_)
            closeAfterWrite();
        else
            drained();
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        pending_.clear();
        handler_->onWriteError(n);
        return;
    }
    inflight_.swap(pending_);
    pending_.clear();
    inflight_off_ = n > 0 ? static_cast<size_t>(n) : 0;
    writing_ = true;
    write_req_.data = this;
    uv_buf_t rest = uv_buf_init(inflight_.data() + inflight_off_, static_cast<unsigned>(inflight_.size() - inflight_off_));
    const int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &rest, 1, &TcpConn::writeCb);
    if (rc != 0) {
        writing_ = false;
        inflight_.clear();
        handler_->onWriteError(rc);
    }
}

void TcpConn::releaseWriteBuffers()
{
    // A string keeps its capacity when cleared: a connection that once queued a 4 MB answer
    // for a slow reader would hold its pages (measured: 350 KiB each) for as long as it lives.
    const auto release = [](std::string& s) {
        if (s.empty() && s.capacity() > kKeptWriteBytes)
            std::string().swap(s);
    };
    release(pending_);
    release(plain_);
    if (!writing_)
        release(inflight_);
}

void TcpConn::writeCb(uv_write_t* req, int status)
{
    auto* self = static_cast<TcpConn*>(req->data);
    self->writing_ = false;
    self->inflight_.clear();
    self->inflight_off_ = 0;
    if (self->closing_)
        return;
    if (status != 0) {
        self->pending_.clear();
        self->handler_->onWriteError(status);
        return;
    }
    if (!self->pending_.empty()) {
        self->flush();
        return;
    }
    if (self->close_after_write_)
        self->closeAfterWrite();
    else
        self->drained();
}

void TcpConn::closeAfterWrite()
{
    if (closing_ || shutting_down_)
        return;
    close_after_write_ = true;
    if (tls_) {
        tlsFinish(); // what is left, encrypted, then close_notify
        if (closing_)
            return;
    }
    if (writing_ || !pending_.empty()) {
        flush();
        return;
    }
    shutting_down_ = true;
    shutdown_req_.data = this;
    if (uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &TcpConn::shutdownCb) != 0)
        close();
}

void TcpConn::shutdownCb(uv_shutdown_t* req, int /*status*/)
{
    static_cast<TcpConn*>(req->data)->close();
}

void TcpConn::close()
{
    if (closing_)
        return;
    if (tls_)
        tlsCloseNotify();
    closing_ = true;
    reading_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &TcpConn::closeCb);
    if (tls_)
        uv_close(reinterpret_cast<uv_handle_t*>(&tls_timer_), &TcpConn::closeCb);
}

void TcpConn::closeCb(uv_handle_t* h)
{
    auto* self = static_cast<TcpConn*>(h->data);
    if (--self->open_handles_ == 0)
        self->handler_->onClosed();
}

void TcpConn::allocCb(uv_handle_t* /*h*/, size_t /*suggested*/, uv_buf_t* buf)
{
    *buf = uv_buf_init(t_read_buffer, kReadBufferBytes);
}

void TcpConn::readCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf)
{
    auto* self = static_cast<TcpConn*>(s->data);
    if (self->tls_ && nread != 0) {
        if (nread > 0)
            self->tlsRead(buf->base, static_cast<size_t>(nread));
        else
            self->tlsEof(static_cast<int>(nread));
    } else if (nread > 0) {
        self->handler_->onRead(buf->base, static_cast<size_t>(nread));
    } else if (nread == UV_EOF) {
        self->stopReading();
        self->handler_->onEof();
    } else if (nread < 0) {
        self->stopReading();
        self->handler_->onReadError(static_cast<int>(nread));
    }
}

void TcpConn::connectCb(uv_connect_t* req, int status)
{
    auto* self = static_cast<TcpConn*>(req->data);
    if (status == UV_ECANCELED || self->closing_)
        return;
    if (self->tls_ && status == 0) {
        self->tlsPump(); // the ClientHello; onConnected(0) once the handshake is done
        return;
    }
    self->handler_->onConnected(status);
}

} // namespace dlb::agent::net
