/* sugarcastd chat — RFC 6455 framing. See wsframe.h. */
#include "wsframe.h"

#include <glib.h>

#include <algorithm>

namespace sugarcast::chat {

namespace {

std::string encode(WsOpcode opcode, std::string_view payload, bool masked, uint32_t mask, bool fin)
{
  std::string out;
  const size_t n = payload.size();
  out.reserve(n + 14);
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<uint8_t>(opcode)));
  const uint8_t mask_bit = masked ? 0x80 : 0;
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<char>((static_cast<uint64_t>(n) >> shift) & 0xFF));
  }
  if (!masked) {
    out.append(payload);
    return out;
  }
  const uint8_t key[4] = {static_cast<uint8_t>(mask >> 24), static_cast<uint8_t>(mask >> 16),
                          static_cast<uint8_t>(mask >> 8), static_cast<uint8_t>(mask)};
  out.append(reinterpret_cast<const char *>(key), 4);
  for (size_t i = 0; i < n; ++i)
    out.push_back(static_cast<char>(static_cast<uint8_t>(payload[i]) ^ key[i & 3]));
  return out;
}

bool valid_close_code(uint16_t code)
{
  /* RFC 6455 7.4: codes a peer may send. */
  if (code >= 3000 && code <= 4999)
    return true;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

} // namespace

std::string ws_encode_frame(WsOpcode opcode, std::string_view payload)
{
  return encode(opcode, payload, false, 0, true);
}

std::string ws_encode_client_frame(WsOpcode opcode, std::string_view payload, uint32_t mask,
                                   bool fin)
{
  return encode(opcode, payload, true, mask, fin);
}

std::string ws_encode_close(uint16_t code, std::string_view reason)
{
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code & 0xFF));
  size_t keep = std::min<size_t>(reason.size(), 123);
  /* Do not end in the middle of a UTF-8 sequence. */
  while (keep > 0 && keep < reason.size() && (static_cast<uint8_t>(reason[keep]) & 0xC0) == 0x80)
    --keep;
  payload.append(reason.substr(0, keep));
  return encode(WsOpcode::Close, payload, false, 0, true);
}

std::string ws_accept_key(std::string_view key)
{
  std::string text(key);
  text += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  guint8 digest[20];
  gsize length = sizeof digest;
  g_autoptr(GChecksum) sha1 = g_checksum_new(G_CHECKSUM_SHA1);
  g_checksum_update(sha1, reinterpret_cast<const guchar *>(text.data()),
                    static_cast<gssize>(text.size()));
  g_checksum_get_digest(sha1, digest, &length);
  g_autofree gchar *b64 = g_base64_encode(digest, length);
  return b64;
}

WsParser::WsParser(size_t max_message_bytes, bool masked)
    : max_message_bytes_(max_message_bytes), masked_(masked)
{}

uint16_t WsParser::fail(std::string why)
{
  failed_ = true;
  error_ = std::move(why);
  message_.clear();
  message_.shrink_to_fit();
  return close_code::protocol_error;
}

uint16_t WsParser::header_complete()
{
  const uint8_t b0 = header_[0];
  const uint8_t b1 = header_[1];
  fin_ = b0 & 0x80;
  opcode_ = b0 & 0x0F;
  frame_masked_ = b1 & 0x80;
  if (b0 & 0x70)
    return fail("reserved bits set in a frame header (no extension was negotiated)");
  const bool control = opcode_ & 0x08;
  if (opcode_ != 0x0 && opcode_ != 0x1 && opcode_ != 0x2 && opcode_ != 0x8 && opcode_ != 0x9 &&
      opcode_ != 0xA)
    return fail("unknown frame opcode " + std::to_string(opcode_));
  if (frame_masked_ != masked_)
    return fail(masked_ ? "client frames must be masked" : "server frames must not be masked");
  uint64_t length = b1 & 0x7F;
  size_t pos = 2;
  if (length == 126) {
    length = (static_cast<uint64_t>(header_[2]) << 8) | header_[3];
    pos = 4;
  } else if (length == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i)
      length = (length << 8) | header_[2 + i];
    pos = 10;
    if (length >> 63)
      return fail("frame length has its most significant bit set");
  }
  if (frame_masked_)
    std::copy(header_ + pos, header_ + pos + 4, mask_);
  mask_pos_ = 0;
  remaining_ = length;
  if (control) {
    if (!fin_)
      return fail("fragmented control frame");
    if (length > 125)
      return fail("control frame longer than 125 bytes");
    control_.clear();
  } else if (opcode_ == 0x0) {
    if (message_opcode_ == 0)
      return fail("continuation frame without a message to continue");
  } else {
    if (message_opcode_ != 0)
      return fail("new data frame while a fragmented message is unfinished");
    message_opcode_ = opcode_;
    message_size_ = 0;
    discarding_ = false;
    message_.clear();
  }
  if (!control) {
    message_size_ += length;
    if (message_size_ > max_message_bytes_ && !discarding_) {
      discarding_ = true;
      message_.clear();
      message_.shrink_to_fit();
    }
  }
  header_len_ = 0;
  header_need_ = 2;
  in_payload_ = true;
  return 0;
}

uint16_t WsParser::frame_complete(const std::function<void(const WsEvent &)> &on_event)
{
  in_payload_ = false;
  switch (opcode_) {
  case 0x8: {
    WsEvent e{WsEvent::Close};
    if (control_.size() == 1)
      return fail("close frame with a one-byte payload");
    if (control_.size() >= 2) {
      e.close_code = static_cast<uint16_t>((static_cast<uint8_t>(control_[0]) << 8) |
                                           static_cast<uint8_t>(control_[1]));
      if (!valid_close_code(e.close_code))
        return fail("close frame with invalid code " + std::to_string(e.close_code));
      e.payload = std::string_view(control_).substr(2);
      if (!g_utf8_validate_len(e.payload.data(), e.payload.size(), nullptr))
        return fail("close reason is not valid UTF-8");
    } else {
      e.close_code = close_code::no_status;
    }
    on_event(e);
    return 0;
  }
  case 0x9:
  case 0xA:
    on_event(WsEvent{opcode_ == 0x9 ? WsEvent::Ping : WsEvent::Pong, control_});
    return 0;
  default:
    break;
  }
  if (!fin_)
    return 0;
  WsEvent e{WsEvent::Text};
  if (discarding_) {
    e.kind = WsEvent::TooBig;
    e.size = message_size_;
  } else if (message_opcode_ == 0x2) {
    e.kind = WsEvent::Binary;
    e.payload = message_;
  } else if (!g_utf8_validate_len(message_.data(), message_.size(), nullptr)) {
    e.kind = WsEvent::BadUtf8;
  } else {
    e.payload = message_;
  }
  on_event(e);
  message_opcode_ = 0;
  message_size_ = 0;
  discarding_ = false;
  message_.clear();
  if (message_.capacity() > 4096) /* keep idle connections small */
    message_.shrink_to_fit();
  return 0;
}

uint16_t WsParser::feed(const char *data, size_t size,
                        const std::function<void(const WsEvent &)> &on_event)
{
  if (failed_)
    return close_code::protocol_error;
  const auto *p = reinterpret_cast<const uint8_t *>(data);
  const uint8_t *end = p + size;
  while (true) {
    if (!in_payload_) {
      while (header_len_ < header_need_ && p < end) {
        header_[header_len_++] = *p++;
        if (header_len_ == 2) {
          const uint8_t len7 = header_[1] & 0x7F;
          header_need_ = 2 +
                         (len7 == 126   ? 2
                          : len7 == 127 ? 8
                                        : 0) +
                         ((header_[1] & 0x80) ? 4 : 0);
        }
      }
      if (header_len_ < header_need_)
        return 0;
      if (uint16_t code = header_complete())
        return code;
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, end - p));
    const bool control = opcode_ & 0x08;
    if (take > 0 && (control || !discarding_)) {
      std::string &into = control ? control_ : message_;
      const size_t at = into.size();
      into.append(reinterpret_cast<const char *>(p), take);
      if (frame_masked_) {
        auto *q = reinterpret_cast<uint8_t *>(into.data() + at);
        for (size_t i = 0; i < take; ++i)
          q[i] ^= mask_[(mask_pos_ + i) & 3];
      }
    }
    mask_pos_ = static_cast<uint8_t>((mask_pos_ + take) & 3);
    p += take;
    remaining_ -= take;
    if (remaining_ > 0)
      return 0;
    if (uint16_t code = frame_complete(on_event))
      return code;
    if (p == end)
      return 0;
  }
}

} // namespace sugarcast::chat
