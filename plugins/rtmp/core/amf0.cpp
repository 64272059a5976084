/* Sugarcast RTMP — AMF0 encoding and decoding. */
#include "amf0.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

namespace sugarcast::rtmp {

AmfValue AmfValue::number(double v)
{
  AmfValue a;
  a.type_ = AmfType::Number;
  a.number_ = v;
  return a;
}

AmfValue AmfValue::boolean(bool v)
{
  AmfValue a;
  a.type_ = AmfType::Boolean;
  a.number_ = v ? 1 : 0;
  return a;
}

AmfValue AmfValue::string(std::string v)
{
  AmfValue a;
  a.type_ = v.size() > 0xffff ? AmfType::LongString : AmfType::String;
  a.string_ = std::move(v);
  return a;
}

AmfValue AmfValue::undefined()
{
  AmfValue a;
  a.type_ = AmfType::Undefined;
  return a;
}

AmfValue AmfValue::object(std::vector<Property> properties)
{
  AmfValue a;
  a.type_ = AmfType::Object;
  a.properties_ = std::move(properties);
  return a;
}

AmfValue AmfValue::ecma_array(std::vector<Property> properties)
{
  AmfValue a = object(std::move(properties));
  a.type_ = AmfType::EcmaArray;
  return a;
}

AmfValue AmfValue::strict_array(std::vector<AmfValue> items)
{
  AmfValue a;
  a.type_ = AmfType::StrictArray;
  a.items_ = std::move(items);
  return a;
}

const AmfValue *AmfValue::get(const std::string &name) const
{
  for (const auto &[key, value] : properties_)
    if (key == name)
      return &value;
  return nullptr;
}

std::string AmfValue::get_string(const std::string &name) const
{
  const AmfValue *v = get(name);
  return v && v->is_string() ? v->as_string() : std::string();
}

AmfValue &AmfValue::set(const std::string &name, AmfValue value)
{
  for (auto &[key, existing] : properties_) {
    if (key == name) {
      existing = std::move(value);
      return *this;
    }
  }
  properties_.emplace_back(name, std::move(value));
  return *this;
}

std::string AmfValue::debug_string() const
{
  std::ostringstream out;
  switch (type_) {
  case AmfType::Number:
  case AmfType::Date:
    out << number_;
    break;
  case AmfType::Boolean:
    out << (number_ != 0 ? "true" : "false");
    break;
  case AmfType::String:
  case AmfType::LongString:
  case AmfType::XmlDocument:
    out << '"' << string_ << '"';
    break;
  case AmfType::Null:
    out << "null";
    break;
  case AmfType::Undefined:
    out << "undefined";
    break;
  case AmfType::Reference:
    out << "ref(" << number_ << ")";
    break;
  case AmfType::Object:
  case AmfType::EcmaArray:
  case AmfType::TypedObject: {
    out << (type_ == AmfType::EcmaArray ? "[" : "{");
    bool first = true;
    for (const auto &[key, value] : properties_) {
      out << (first ? "" : ", ") << key << ": " << value.debug_string();
      first = false;
    }
    out << (type_ == AmfType::EcmaArray ? "]" : "}");
    break;
  }
  case AmfType::StrictArray: {
    out << "(";
    for (size_t i = 0; i < items_.size(); ++i)
      out << (i ? ", " : "") << items_[i].debug_string();
    out << ")";
    break;
  }
  default:
    out << "unsupported";
    break;
  }
  return out.str();
}

bool AmfReader::fail(const std::string &what)
{
  if (error_.empty())
    error_ = "AMF0: " + what + " at byte " + std::to_string(pos_);
  return false;
}

bool AmfReader::read_u8(uint8_t &v)
{
  if (size_ - pos_ < 1)
    return fail("truncated value");
  v = data_[pos_++];
  return true;
}

bool AmfReader::read_u16(uint16_t &v)
{
  if (size_ - pos_ < 2)
    return fail("truncated 16-bit length");
  v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
  pos_ += 2;
  return true;
}

bool AmfReader::read_u32(uint32_t &v)
{
  if (size_ - pos_ < 4)
    return fail("truncated 32-bit length");
  v = uint32_t(data_[pos_]) << 24 | uint32_t(data_[pos_ + 1]) << 16 |
      uint32_t(data_[pos_ + 2]) << 8 | uint32_t(data_[pos_ + 3]);
  pos_ += 4;
  return true;
}

bool AmfReader::read_double(double &v)
{
  if (size_ - pos_ < 8)
    return fail("truncated number");
  uint64_t bits = 0;
  for (int i = 0; i < 8; ++i)
    bits = bits << 8 | data_[pos_ + i];
  std::memcpy(&v, &bits, sizeof v);
  pos_ += 8;
  return true;
}

bool AmfReader::read_string(std::string &out, size_t length)
{
  if (size_ - pos_ < length)
    return fail("string of " + std::to_string(length) + " bytes but only " +
                std::to_string(size_ - pos_) + " left");
  out.assign(reinterpret_cast<const char *>(data_ + pos_), length);
  pos_ += length;
  return true;
}

bool AmfReader::read_properties(std::vector<AmfValue::Property> &out, int depth)
{
  for (;;) {
    uint16_t key_length = 0;
    if (!read_u16(key_length))
      return fail("object without its end marker");
    std::string key;
    if (!read_string(key, key_length))
      return false;
    if (key_length == 0) {
      uint8_t marker = 0;
      if (!read_u8(marker))
        return false;
      if (marker == static_cast<uint8_t>(AmfType::ObjectEnd))
        return true;
      --pos_; /* an empty key followed by a value: legal, if odd */
    }
    AmfValue value;
    if (!read_value(value, depth + 1))
      return false;
    out.emplace_back(std::move(key), std::move(value));
  }
}

bool AmfReader::read_value(AmfValue &out, int depth)
{
  if (depth > limits_.max_depth)
    return fail("nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
  if (++values_ > limits_.max_values)
    return fail("more than " + std::to_string(limits_.max_values) + " values");
  uint8_t marker = 0;
  if (!read_u8(marker))
    return false;
  switch (static_cast<AmfType>(marker)) {
  case AmfType::Number: {
    double v = 0;
    if (!read_double(v))
      return false;
    out = AmfValue::number(v);
    return true;
  }
  case AmfType::Boolean: {
    uint8_t v = 0;
    if (!read_u8(v))
      return false;
    out = AmfValue::boolean(v != 0);
    return true;
  }
  case AmfType::String:
  case AmfType::LongString:
  case AmfType::XmlDocument: {
    uint32_t length = 0;
    if (marker == static_cast<uint8_t>(AmfType::String)) {
      uint16_t short_length = 0;
      if (!read_u16(short_length))
        return false;
      length = short_length;
    } else if (!read_u32(length)) {
      return false;
    }
    std::string s;
    if (!read_string(s, length))
      return false;
    out = AmfValue::string(std::move(s));
    return true;
  }
  case AmfType::Null:
    out = AmfValue::null();
    return true;
  case AmfType::Undefined:
  case AmfType::Unsupported:
    out = AmfValue::undefined();
    return true;
  case AmfType::Reference: {
    uint16_t index = 0;
    if (!read_u16(index))
      return false;
    out = AmfValue::undefined(); /* references never occur in publish commands */
    return true;
  }
  case AmfType::Object:
  case AmfType::TypedObject: {
    std::string class_name;
    if (marker == static_cast<uint8_t>(AmfType::TypedObject)) {
      uint16_t length = 0;
      if (!read_u16(length) || !read_string(class_name, length))
        return false;
    }
    std::vector<AmfValue::Property> properties;
    if (!read_properties(properties, depth))
      return false;
    out = AmfValue::object(std::move(properties));
    return true;
  }
  case AmfType::EcmaArray: {
    uint32_t count_hint = 0; /* encoders get it wrong; the end marker decides */
    if (!read_u32(count_hint))
      return false;
    std::vector<AmfValue::Property> properties;
    if (!read_properties(properties, depth))
      return false;
    out = AmfValue::ecma_array(std::move(properties));
    return true;
  }
  case AmfType::StrictArray: {
    uint32_t count = 0;
    if (!read_u32(count))
      return false;
    if (count > size_ - pos_) /* every value takes at least one byte */
      return fail("strict array of " + std::to_string(count) + " values but only " +
                  std::to_string(size_ - pos_) + " bytes left");
    if (count > limits_.max_values - std::min(values_, limits_.max_values))
      return fail("strict array of " + std::to_string(count) + " values exceeds the limit of " +
                  std::to_string(limits_.max_values) + " values");
    /* No reserve(count): the count is the peer's claim (one 16 MiB connect
     * said 16 million, and reserving that many values took 1.6 GB). The
     * vector grows with the values actually decoded. */
    std::vector<AmfValue> items;
    for (uint32_t i = 0; i < count; ++i) {
      AmfValue item;
      if (!read_value(item, depth + 1))
        return false;
      items.push_back(std::move(item));
    }
    out = AmfValue::strict_array(std::move(items));
    return true;
  }
  case AmfType::Date: {
    double ms = 0;
    uint16_t timezone = 0;
    if (!read_double(ms) || !read_u16(timezone))
      return false;
    out = AmfValue::number(ms);
    return true;
  }
  case AmfType::ObjectEnd:
    --pos_;
    return fail("object end marker outside an object");
  default:
    --pos_;
    return fail("unknown type marker 0x" + [marker] {
      char hex[3];
      snprintf(hex, sizeof hex, "%02x", marker);
      return std::string(hex);
    }());
  }
}

std::optional<AmfValue> AmfReader::read()
{
  if (!error_.empty())
    return std::nullopt;
  if (at_end()) {
    fail("value expected, found the end of the message");
    return std::nullopt;
  }
  AmfValue value;
  if (!read_value(value, 0))
    return std::nullopt;
  return value;
}

std::optional<std::vector<AmfValue>> AmfReader::read_all()
{
  std::vector<AmfValue> values;
  while (!at_end()) {
    auto v = read();
    if (!v)
      return std::nullopt;
    values.push_back(std::move(*v));
  }
  return values;
}

namespace {

void put_u16(std::vector<uint8_t> &out, uint16_t v)
{
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put_u32(std::vector<uint8_t> &out, uint32_t v)
{
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<uint8_t>(v >> shift));
}

void put_key(std::vector<uint8_t> &out, const std::string &key)
{
  const size_t length = std::min<size_t>(key.size(), 0xffff);
  put_u16(out, static_cast<uint16_t>(length));
  out.insert(out.end(), key.begin(), key.begin() + static_cast<std::ptrdiff_t>(length));
}

void put_properties(std::vector<uint8_t> &out, const std::vector<AmfValue::Property> &properties)
{
  for (const auto &[key, value] : properties) {
    put_key(out, key);
    amf_encode(out, value);
  }
  put_u16(out, 0);
  out.push_back(static_cast<uint8_t>(AmfType::ObjectEnd));
}

} // namespace

void amf_encode(std::vector<uint8_t> &out, const AmfValue &value)
{
  switch (value.type()) {
  case AmfType::Number:
  case AmfType::Date: {
    out.push_back(static_cast<uint8_t>(AmfType::Number));
    double d = value.as_number();
    uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<uint8_t>(bits >> shift));
    break;
  }
  case AmfType::Boolean:
    out.push_back(static_cast<uint8_t>(AmfType::Boolean));
    out.push_back(value.as_bool() ? 1 : 0);
    break;
  case AmfType::String:
  case AmfType::LongString:
  case AmfType::XmlDocument: {
    const std::string &s = value.as_string();
    if (s.size() <= 0xffff) {
      out.push_back(static_cast<uint8_t>(AmfType::String));
      put_u16(out, static_cast<uint16_t>(s.size()));
    } else {
      out.push_back(static_cast<uint8_t>(AmfType::LongString));
      put_u32(out, static_cast<uint32_t>(s.size()));
    }
    out.insert(out.end(), s.begin(), s.end());
    break;
  }
  case AmfType::Object:
  case AmfType::TypedObject:
    out.push_back(static_cast<uint8_t>(AmfType::Object));
    put_properties(out, value.properties());
    break;
  case AmfType::EcmaArray:
    out.push_back(static_cast<uint8_t>(AmfType::EcmaArray));
    put_u32(out, static_cast<uint32_t>(value.properties().size()));
    put_properties(out, value.properties());
    break;
  case AmfType::StrictArray:
    out.push_back(static_cast<uint8_t>(AmfType::StrictArray));
    put_u32(out, static_cast<uint32_t>(value.items().size()));
    for (const auto &item : value.items())
      amf_encode(out, item);
    break;
  case AmfType::Undefined:
    out.push_back(static_cast<uint8_t>(AmfType::Undefined));
    break;
  default:
    out.push_back(static_cast<uint8_t>(AmfType::Null));
    break;
  }
}

std::vector<uint8_t> amf_encode_all(const std::vector<AmfValue> &values)
{
  std::vector<uint8_t> out;
  for (const auto &v : values)
    amf_encode(out, v);
  return out;
}

} // namespace sugarcast::rtmp
