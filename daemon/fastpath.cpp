/* sugarcastd — the media fast path's connection I/O: the worker threads,
 * accepting and dealing out connections, their epoll events, the first
 * look that keeps a connection or hands it to libsoup, reading requests,
 * writing answers (sendfile(2) for files), deadlines, and playlist requests
 * held for a blocking reload. What a request gets is decided apart, in
 * fastpath_answer.cpp, so that either can be read without the other. See
 * fastpath.h for the behaviour, fastpath_impl.h for the shared class. */
#include "fastpath_impl.h"

#include <glib.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <csignal>

#define G_LOG_DOMAIN_NAME "sugarcastd"

namespace sugarcast {

namespace {

using namespace http1;

/* Enough to tell "OPTIONS /clips/" from anything else after a few blank lines. */
constexpr size_t kFirstLookBytes = 256;
constexpr int kAcceptPauseMs = 100;
/* How often held playlist requests look at their playlists again: a
 * segment listed is answered within this (the playlists are renamed into
 * place, a stat(2) per playlist per tick tells). */
constexpr int kParkedCheckMs = 10;

/* CLOCK_MONOTONIC_COARSE (a kernel tick's resolution): enough for this
 * loop's deadlines, in seconds and the 10 ms held-playlist check.
 * clock.h's monotonic_ms is the precise clock the rest of the daemon uses. */
int64_t coarse_monotonic_ms()
{
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

} // namespace

bool MediaFastPath::Worker::start(std::string &error)
{
  if (!loop_.open(error) || (listener_ && !loop_.watch(listener_.get(), EPOLLIN, &listener_tag_))) {
    if (error.empty())
      error = g_strerror(errno);
    error = "cannot start the media fast path: " + error;
    return false;
  }
  if (!loop_.start("sc-media-" + std::to_string(index_), error)) {
    error = "cannot start the media fast path: " + error;
    return false;
  }
  return true;
}

int MediaFastPath::Worker::timeout_ms()
{
  const int64_t now = coarse_monotonic_ms();
  int64_t wait = -1;
  if (!connections_.empty())
    wait = std::max<int64_t>(0, connections_.front().deadline - now) + 1;
  if (!parked_.empty())
    wait = wait < 0 ? kParkedCheckMs : std::min<int64_t>(wait, kParkedCheckMs);
  if (accept_paused_until_) {
    const int64_t resume = std::max<int64_t>(0, accept_paused_until_ - now);
    wait = wait < 0 ? resume : std::min(wait, resume);
  }
  return static_cast<int>(std::min<int64_t>(wait, INT32_MAX));
}

void MediaFastPath::Worker::woken()
{
  /* Stopping (the loop ends after this turn), or connections given. */
  for (UniqueFd &fd : inbox_.take())
    add_connection(fd.release());
}

void MediaFastPath::Worker::on_io(void *tag, uint32_t events)
{
  if (tag == &listener_tag_) {
    accept_connections();
    return;
  }
  /* A connection is only ever closed while its own event is handled or
   * after the batch, so every pointer here is live. */
  auto &c = *static_cast<Connection *>(tag);
  if ((events & EPOLLERR) || (c.parking && (events & (EPOLLRDHUP | EPOLLHUP)))) {
    close(c); /* a held request's client gone: nothing to answer */
    return;
  }
  if (c.media)
    process(c);
  else
    look_first(c, events);
}

void MediaFastPath::Worker::turn_done()
{
  expire();
  check_parked();
  if (accept_paused_until_ && coarse_monotonic_ms() >= accept_paused_until_) {
    accept_paused_until_ = 0;
    loop_.watch(listener_.get(), EPOLLIN, &listener_tag_);
  }
}

void MediaFastPath::Worker::stopped()
{
  shared_.options.open->fetch_sub(static_cast<int>(connections_.size()), std::memory_order_relaxed);
  for (auto &[key, p] : parked_)
    shared_.options.held->fetch_sub(static_cast<int>(p.waiting.size()), std::memory_order_relaxed);
  parked_.clear();
  connections_.clear();
  listener_.reset();
}

void MediaFastPath::Worker::accept_connections()
{
  const int64_t now = coarse_monotonic_ms();
  for (int i = 0; i < 64; ++i) {
    const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* Out of descriptors: stop accepting for a moment rather than spin. */
        g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_WARNING,
              "HTTP: cannot accept connections (%s); pausing for %d ms", g_strerror(errno),
              kAcceptPauseMs);
        loop_.unwatch(listener_.get());
        accept_paused_until_ = now + kAcceptPauseMs;
        return;
      }
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
        continue;
      return; /* EAGAIN, or nothing to be done about it */
    }
    if (shared_.options.open->fetch_add(1, std::memory_order_relaxed) >=
        shared_.options.max_connections) {
      shared_.options.open->fetch_sub(1, std::memory_order_relaxed);
      refuse(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* In turn, so that long keep-alive connections spread evenly. */
    Worker &to = shared_.pool[next_worker_++ % shared_.pool.size()];
    if (&to == this)
      add_connection(fd);
    else
      to.give(fd);
  }
}

void MediaFastPath::Worker::refuse(int fd)
{
  count(503);
  /* Read what already arrived, so that closing does not reset the
   * connection before the client sees the answer. */
  while (recv(fd, scratch_, sizeof scratch_, MSG_DONTWAIT) > 0) {
  }
  const std::string body =
      error_json("too_many_connections",
                 "The server holds its most connections (http.max_connections = " +
                     std::to_string(shared_.options.max_connections) + "); try again shortly");
  std::string answer = "HTTP/1.1 503 Service Unavailable\r\nServer: sugarcastd\r\nDate: ";
  answer += date();
  answer += "\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: "
            "5\r\nConnection: close\r\nContent-Length: ";
  append_number(answer, static_cast<int64_t>(body.size()));
  answer += "\r\n\r\n";
  answer += body;
  if (send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
    g_log(G_LOG_DOMAIN_NAME, G_LOG_LEVEL_DEBUG, "refusing a connection: %s", g_strerror(errno));
  shutdown(fd, SHUT_WR);
  ::close(fd);
}

void MediaFastPath::Worker::add_connection(int fd)
{
  Connection &c = connections_.emplace_back();
  c.fd.reset(fd);
  c.self = std::prev(connections_.end());
  c.deadline = coarse_monotonic_ms() + shared_.options.idle_timeout_ms;
  if (!loop_.watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &c))
    close(c);
}

void MediaFastPath::Worker::hand_over(Connection &c, std::string already_read)
{
  loop_.unwatch(c.fd.get());
  const int fd = c.fd.release();
  connections_.erase(c.self); /* still open: counted until its receiver closes it */
  shared_.handoff(fd, std::move(already_read));
}

void MediaFastPath::Worker::touch(Connection &c)
{
  /* Every deadline is "now + the timeout", so moving the connection to the
   * end keeps the list in deadline order. */
  c.deadline = coarse_monotonic_ms() + shared_.options.idle_timeout_ms;
  connections_.splice(connections_.end(), connections_, c.self);
}

void MediaFastPath::Worker::expire()
{
  const int64_t now = coarse_monotonic_ms();
  while (!connections_.empty() && connections_.front().deadline <= now) {
    Connection &c = connections_.front();
    if (c.writing) {
      /* Reset rather than close: a client that stopped reading would
       * otherwise keep megabytes queued in the kernel for minutes. */
      const linger abort{1, 0};
      setsockopt(c.fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    }
    close(c);
  }
}

void MediaFastPath::Worker::look_first(Connection &c, uint32_t events)
{
  const ssize_t n = recv(c.fd.get(), scratch_, kFirstLookBytes, MSG_PEEK);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (n <= 0) {
    close(c);
    return;
  }
  switch (first_look(std::string_view(scratch_, static_cast<size_t>(n)), shared_.first_lines)) {
  case FirstLook::Media:
    c.media = true;
    process(c);
    return;
  case FirstLook::NeedMore:
    if (events & EPOLLRDHUP) { /* the start of a line, then the client stopped */
      close(c);
      return;
    }
    if (static_cast<size_t>(n) < kFirstLookBytes)
      return; /* the rest of the line is on its way */
    [[fallthrough]];
  case FirstLook::Other:
    hand_over(c, "");
    return;
  }
}

void MediaFastPath::Worker::process(Connection &c)
{
  if (c.parking)
    return; /* check_parked() answers it, then carries on with the rest */
  for (;;) {
    if (c.lingering) {
      /* Read and drop what the client still sends, so that closing does not
       * reset the connection before it has read the last response. */
      const ssize_t n = recv(c.fd.get(), scratch_, sizeof scratch_, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
      if (n <= 0) {
        close(c);
        return;
      }
      continue;
    }
    if (c.writing) {
      const Flush f = flush(c);
      if (f == Flush::Again)
        return;
      if (f == Flush::Failed) {
        close(c);
        return;
      }
      c.writing = false;
      c.body.reset();
      c.file.reset();
      if (c.close_after || shared_.stopping.load(std::memory_order_relaxed)) {
        shutdown(c.fd.get(), SHUT_WR);
        c.lingering = true;
        c.pending.clear();
        touch(c);
        continue;
      }
      touch(c); /* the next request has the whole timeout again */
    }
    if (!c.pending.empty()) {
      Request r;
      size_t mount = 0;
      switch (parse_request(c.pending, r)) {
      case Parsed::Complete:
        if (!serves(r, mount)) {
          hand_over(c, std::move(c.pending));
          return;
        }
        switch (hold(c, r, mount)) {
        case Hold::Parked:
          return;
        case Hold::Serve:
          respond(c, r, mount);
          break;
        case Hold::Answered:
          break;
        }
        c.pending.erase(0, r.head_bytes);
        if (c.pending.empty() && c.pending.capacity() > 4096)
          std::string().swap(c.pending); /* a big head once is no reason to keep 16 KiB */
        continue;
      case Parsed::Malformed:
        /* libsoup answers it, as it would have without the fast path. */
        hand_over(c, std::move(c.pending));
        return;
      case Parsed::HeadersTooLarge:
        respond_error(c, 431, "headers_too_large",
                      "The request head is over " + std::to_string(kMaxHeadBytes) + " bytes", "");
        continue;
      case Parsed::UriTooLong:
        respond_error(c, 414, "uri_too_long",
                      "The request line is over " + std::to_string(kMaxHeadBytes) + " bytes", "");
        continue;
      case Parsed::Incomplete:
        break;
      }
    }
    if (c.input_closed) {
      close(c);
      return;
    }
    const ssize_t n = recv(c.fd.get(), scratch_, kMaxHeadBytes - c.pending.size(), 0);
    if (n > 0) {
      c.pending.append(scratch_, static_cast<size_t>(n));
    } else if (n == 0) {
      c.input_closed = true;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return;
    } else if (errno != EINTR) {
      close(c);
      return;
    }
  }
}

MediaFastPath::Worker::Flush MediaFastPath::Worker::flush(Connection &c)
{
  bool progress = false;
  for (;;) {
    const size_t head_left = c.head.size() - c.head_sent;
    const size_t body_left = c.body ? c.body_end - c.body_off : 0;
    const off_t file_left = c.file ? c.file_end - c.file_off : 0;
    ssize_t n;
    if (head_left > 0) {
      iovec iov[2] = {
          {c.head.data() + c.head_sent, head_left},
          {const_cast<char *>(c.body ? c.body->data() + c.body_off : nullptr), body_left}};
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = body_left > 0 ? 2 : 1;
      /* With a file to follow, the head waits for its first bytes. */
      n = sendmsg(c.fd.get(), &msg, MSG_NOSIGNAL | (file_left > 0 ? MSG_MORE : 0));
      if (n > 0) {
        const size_t from_head = std::min(static_cast<size_t>(n), head_left);
        c.head_sent += from_head;
        c.body_off += static_cast<size_t>(n) - from_head;
      }
    } else if (body_left > 0) {
      n = send(c.fd.get(), c.body->data() + c.body_off, body_left, MSG_NOSIGNAL);
      if (n > 0)
        c.body_off += static_cast<size_t>(n);
    } else if (file_left > 0) {
      n = sendfile(c.fd.get(), c.file.get(), &c.file_off,
                   static_cast<size_t>(std::min<off_t>(file_left, 1 << 30)));
      if (n == 0)
        return Flush::Failed; /* the file got shorter: the promised length cannot be sent */
    } else {
      return Flush::Done;
    }
    if (n > 0) {
      progress = true;
      continue;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (progress)
        touch(c);
      return Flush::Again;
    }
    return Flush::Failed;
  }
}

MediaFastPath::Worker::Hold MediaFastPath::Worker::hold(Connection &c, const Request &r,
                                                        size_t mount)
{
  if (c.park_expired) {
    c.park_expired = false;
    c.close_after = closes_after(r);
    respond_error(c, 503, "segment_not_ready", hls_hold_expired(c.parked_msn), r.origin);
    return Hold::Answered;
  }
  const size_t q = r.target.find('?');
  if (q == std::string_view::npos || (r.method != "GET" && r.method != "HEAD"))
    return Hold::Serve;
  const std::string_view path = r.target.substr(0, q);
  std::string_view query = r.target.substr(q + 1);
  query = query.substr(0, query.find('#'));
  const int64_t msn = hls_requested_msn(query);
  if (msn == -1 || !is_playlist_path(path))
    return Hold::Serve;
  const Mount &m = shared_.mounts[mount];
  const MediaKind *kind = nullptr;
  const std::string relative = media_relative_path(path.substr(m.url_prefix.size()), &kind);
  struct stat st;
  HlsPlaylistState state;
  if (relative.empty() || !playlist_state(mount, relative, st, state))
    return Hold::Serve;
  std::string refusal;
  switch (hls_hold(msn, state, refusal)) {
  case HlsHold::Serve:
    return Hold::Serve;
  case HlsHold::Refuse:
    c.close_after = closes_after(r);
    respond_error(c, 400, "bad_hls_msn", refusal, r.origin);
    return Hold::Answered;
  case HlsHold::Wait:
    break;
  }
  auto [it, fresh] = parked_.try_emplace(cache_key(mount, relative));
  Parking &p = it->second;
  if (fresh) {
    /* An existing entry keeps what its last check saw: a change since then
     * must still wake the requests held before this one. */
    p.mount = mount;
    p.relative = relative;
    p.seen = st;
    p.state = state;
  }
  c.parking = &p;
  c.parked_msn = msn;
  c.park_deadline = coarse_monotonic_ms() + hls_hold_ms(state, shared_.options.idle_timeout_ms / 2);
  c.parked_at = p.waiting.insert(p.waiting.end(), &c);
  shared_.options.held->fetch_add(1, std::memory_order_relaxed);
  touch(c); /* idle only after the answer, not while held */
  return Hold::Parked;
}

void MediaFastPath::Worker::unpark(Connection &c)
{
  Parking *p = c.parking;
  c.parking = nullptr;
  shared_.options.held->fetch_sub(1, std::memory_order_relaxed);
  p->waiting.erase(c.parked_at);
  if (p->waiting.empty())
    parked_.erase(cache_key(p->mount, p->relative));
}

void MediaFastPath::Worker::check_parked()
{
  const int64_t now = coarse_monotonic_ms();
  if (parked_.empty() || now < next_parked_check_)
    return;
  next_parked_check_ = now + kParkedCheckMs;
  std::vector<Connection *> due;
  for (auto &[key, p] : parked_) {
    struct stat st;
    const bool exists =
        fstatat(shared_.mounts[p.mount].root->fd(), p.relative.c_str(), &st, 0) == 0;
    const bool changed = !exists || !same_file_version(st, p.seen);
    bool release_all = false;
    if (changed) {
      HlsPlaylistState state;
      if (!exists || !playlist_state(p.mount, p.relative, st, state))
        release_all = true; /* gone or unreadable: answered as it is now (404, ...) */
      p.seen = st;
      p.state = state;
    }
    std::string refusal;
    for (Connection *c : p.waiting) {
      if (release_all || (changed && hls_hold(c->parked_msn, p.state, refusal) != HlsHold::Wait)) {
        due.push_back(c);
      } else if (c->park_deadline <= now) {
        c->park_expired = true;
        due.push_back(c);
      } else if (!changed) {
        break; /* the rest were held later: their time is not up either */
      }
    }
  }
  for (Connection *c : due) {
    unpark(*c);
    process(*c);
  }
}

MediaFastPath::MediaFastPath(Options options, std::vector<Mount> mounts, Metrics &metrics,
                             Handoff handoff)
    : shared_(new Shared{std::move(options), std::move(mounts), metrics, std::move(handoff), {}})
{
  for (const char *method : {"GET ", "HEAD ", "OPTIONS "})
    for (const Mount &m : shared_->mounts)
      shared_->first_lines.push_back(method + m.url_prefix + "/");
}

MediaFastPath::~MediaFastPath()
{
  stop();
}

bool MediaFastPath::start(UniqueFd listener, std::string &error)
{
  /* sendfile(2) has no MSG_NOSIGNAL: writing to a client that has gone
   * would raise SIGPIPE, which kills a process that has not said otherwise. */
  struct sigaction current;
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL)
    signal(SIGPIPE, SIG_IGN);
  const auto make = [this, &listener](int i) {
    return std::make_unique<Worker>(*shared_, i == 0 ? std::move(listener) : UniqueFd(), i);
  };
  if (!shared_->pool.start(shared_->options.threads, make, error)) {
    stop();
    return false;
  }
  return true;
}

void MediaFastPath::stop()
{
  shared_->stopping.store(true, std::memory_order_release);
  shared_->pool.clear();
}

} // namespace sugarcast
