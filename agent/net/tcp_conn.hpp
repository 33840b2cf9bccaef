#pragma once
// One TCP stream on a libuv loop, with write coalescing and backpressure signals.
//
// Ownership: TcpConn is a member of its owner (a downstream session, an upstream connection,
// a probe connection). The owner calls close(); libuv's close callback then calls
// Handler::onClosed(), and only there may the owner free itself (one owner per handle, freed
// only in its close callback). Threading: everything runs on the loop's thread.
//
// Writes: bytes are appended to `pending_`; while one uv_write is in flight, later bytes wait
// in `pending_` and go out together in the next write (fewer syscalls, one copy per byte).
// pendingBytes() lets the producer stop reading its source when the consumer is slow.
//
// TLS (optional, enableTls() before accept()/connect()): the handler still reads and writes
// plaintext; TcpConn runs the handshake on the loop (memory BIOs, tls::Engine) under a
// deadline, reads while it lasts whatever the handler asked, reports an outgoing connection as
// connected only once its handshake is done, and counts ciphertext not yet written in
// pendingBytes(). A TLS failure is a read error (UV_EPROTO, UV_ETIMEDOUT for the deadline) or,
// on an outgoing connection, a connect error; tlsError() says what went wrong.

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace dlb::agent::tls {
class Engine;
}

namespace dlb::agent::net {

// Write-buffer capacity an idle connection may keep (releaseWriteBuffers() frees the rest).
inline constexpr size_t kKeptWriteBytes = 4096;

class TcpConn {
public:
    class Handler {
    public:
        virtual ~Handler() = default;
        virtual void onConnected(int /*status*/) {}        // outgoing connections; 0 or a UV error
        virtual void onRead(const char* data, size_t len) = 0;
        virtual void onEof() = 0;                            // the peer closed its side
        virtual void onReadError(int status) = 0;            // reset and friends
        virtual void onWriteError(int /*status*/) {}
        // Everything queued has been written. May be called from inside write()/flush() when
        // the bytes went out at once: handlers must only resume reading here, never write.
        virtual void onDrained() {}
        virtual void onClosed() = 0;                         // handle closed: owner may free
    };

    // A TCP stream, or a Unix-domain one (the control socket): the same reads, writes and
    // lifetime; connect(), setNoDelay() and peerIp() are TCP's only.
    enum class Transport { Tcp, Pipe };
    TcpConn(uv_loop_t* loop, Handler* handler, Transport transport = Transport::Tcp);
    ~TcpConn();
    TcpConn(const TcpConn&) = delete;
    TcpConn& operator=(const TcpConn&) = delete;

    // Speaks TLS through `engine` from now on; the handshake must end within `handshake_ms`.
    void enableTls(std::unique_ptr<tls::Engine> engine, uint64_t handshake_ms);
    bool tls() const { return tls_ != nullptr; }
    std::string tlsError() const;

    int accept(uv_stream_t* server);
    // Takes over an accepted socket: from here on `fd` is this connection's, closed with it
    // (or at once, when the handle cannot take it). A UV error code, 0 on success.
    int open(int fd);
    int connect(const sockaddr* addr);
    int startReading();
    void stopReading();
    bool reading() const { return reading_; }

    void write(std::string_view data);
    // Queues without writing yet: the caller flushes once per batch of appends.
    void append(std::string_view data) { pendingBuffer().append(data); }
    // Appends directly into the pending buffer (to format in place, no temporary string).
    // With TLS, that is the plaintext not yet encrypted; pending_ holds ciphertext.
    std::string& pendingBuffer() { return tls_ ? plain_ : pending_; }
    void flush();
    // While an outgoing connection is being established, writes are only queued.
    void holdWrites(bool hold)
    {
        hold_ = hold;
        if (!hold)
            flush();
    }
    size_t pendingBytes() const
    {
        return plain_.size() + pending_.size() + (writing_ ? inflight_.size() - inflight_off_ : 0);
    }
    bool writing() const { return writing_; }
    // Frees what the empty write buffers grew to beyond kKeptWriteBytes: a keep-alive
    // connection between exchanges keeps nothing of the largest answer it once queued.
    void releaseWriteBuffers();

    // Closes after everything pending is written (FIN first, so a final answer is not lost to
    // a reset).
    void closeAfterWrite();
    void close();
    bool closing() const { return closing_; }

    uv_tcp_t* handle() { return &tcp_; }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
    // The socket's descriptor, -1 before it has one.
    int fd() const;
    // The peer's IP as text ("" if unknown).
    std::string peerIp() const;
    void setNoDelay();

private:
    static void allocCb(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
    static void readCb(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
    static void writeCb(uv_write_t* req, int status);
    static void connectCb(uv_connect_t* req, int status);
    static void shutdownCb(uv_shutdown_t* req, int status);
    static void closeCb(uv_handle_t* h);
    // TLS (tcp_conn_tls.cpp)
    static void tlsTimerCb(uv_timer_t* t);
    void tlsRead(const char* data, size_t len);
    void tlsEof(int status);
    void tlsPump();
    void tlsDeliver();
    void tlsFailed(int status);
    bool tlsEncrypt();
    void tlsFinish();
    void tlsCloseNotify();
    void tlsUpdateReading();
    void drained();

    // Both start with uv_stream_t, which is all that the stream code touches.
    union {
        uv_tcp_t tcp_;
        uv_pipe_t pipe_;
    };
    Transport transport_;
    uv_write_t write_req_;
    uv_connect_t connect_req_;
    uv_shutdown_t shutdown_req_;
    Handler* handler_;
    std::string pending_;
    std::string inflight_;
    size_t inflight_off_ = 0;
    bool writing_ = false;
    bool reading_ = false;
    bool closing_ = false;
    bool close_after_write_ = false;
    bool shutting_down_ = false;
    bool hold_ = false;
    int open_handles_ = 1;     // the TCP handle, and the TLS timer when there is one
    bool uv_reading_ = false;  // with TLS: libuv reads (the handler's wish, or the handshake)
    std::unique_ptr<tls::Engine> tls_;
    uv_timer_t tls_timer_;     // the handshake deadline, then deferred reads of buffered records
    std::string plain_;        // with TLS: plaintext waiting to be encrypted
    int tls_stop_status_ = 0;  // with TLS: the peer's EOF or error, or our failure; no more reads
};

} // namespace dlb::agent::net
