/* Sugarcast RTMP — AMF0, the encoding of RTMP commands and metadata.
 *
 * Decoding is defensive: every read is bounds-checked, nesting depth and the
 * number of values per message are limited, and a failure says what was
 * expected at which byte offset. AMF3 (type 0x11 "AVM+") is refused: no
 * publisher we serve sends it inside AMF0 commands.
 */
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sugarcast::rtmp {

enum class AmfType : uint8_t {
  Number = 0x00,
  Boolean = 0x01,
  String = 0x02,
  Object = 0x03,
  Null = 0x05,
  Undefined = 0x06,
  Reference = 0x07,
  EcmaArray = 0x08,
  ObjectEnd = 0x09,
  StrictArray = 0x0a,
  Date = 0x0b,
  LongString = 0x0c,
  Unsupported = 0x0d,
  XmlDocument = 0x0f,
  TypedObject = 0x10,
};

class AmfValue
{
public:
  using Property = std::pair<std::string, AmfValue>;

  AmfValue() = default; /* Null */
  static AmfValue number(double v);
  static AmfValue boolean(bool v);
  static AmfValue string(std::string v);
  static AmfValue null() { return AmfValue(); }
  static AmfValue undefined();
  static AmfValue object(std::vector<Property> properties = {});
  static AmfValue ecma_array(std::vector<Property> properties = {});
  static AmfValue strict_array(std::vector<AmfValue> items = {});

  AmfType type() const { return type_; }
  bool is_null() const { return type_ == AmfType::Null || type_ == AmfType::Undefined; }
  bool is_string() const { return type_ == AmfType::String || type_ == AmfType::LongString; }
  bool is_number() const { return type_ == AmfType::Number; }
  bool is_object() const
  {
    return type_ == AmfType::Object || type_ == AmfType::EcmaArray || type_ == AmfType::TypedObject;
  }

  double as_number() const { return number_; }
  bool as_bool() const { return number_ != 0; }
  const std::string &as_string() const { return string_; }
  const std::vector<Property> &properties() const { return properties_; }
  const std::vector<AmfValue> &items() const { return items_; }

  /* The named property of an object or ECMA array, or nullptr. */
  const AmfValue *get(const std::string &name) const;
  /* The named property when it is a string, else "". */
  std::string get_string(const std::string &name) const;
  /* Adds or replaces a property (objects and ECMA arrays). */
  AmfValue &set(const std::string &name, AmfValue value);

  /* A one-line rendering for logs and test failures. */
  std::string debug_string() const;

private:
  AmfType type_ = AmfType::Null;
  double number_ = 0;
  std::string string_; /* strings; class name of typed objects */
  std::vector<Property> properties_;
  std::vector<AmfValue> items_;
};

struct AmfLimits
{
  int max_depth = 32;
  size_t max_values = 65536;
};

/* Decodes AMF0 values from a byte range. */
class AmfReader
{
public:
  AmfReader(const uint8_t *data, size_t size, AmfLimits limits = {})
      : data_(data), size_(size), limits_(limits)
  {}

  bool at_end() const { return pos_ >= size_; }
  size_t position() const { return pos_; }
  /* The next value; nullopt on malformed input (error() says why). */
  std::optional<AmfValue> read();
  /* Every remaining value; nullopt on malformed input. */
  std::optional<std::vector<AmfValue>> read_all();
  const std::string &error() const { return error_; }

private:
  bool read_value(AmfValue &out, int depth);
  bool read_properties(std::vector<AmfValue::Property> &out, int depth);
  bool read_u8(uint8_t &v);
  bool read_u16(uint16_t &v);
  bool read_u32(uint32_t &v);
  bool read_double(double &v);
  bool read_string(std::string &out, size_t length);
  bool fail(const std::string &what);

  const uint8_t *data_;
  size_t size_;
  size_t pos_ = 0;
  size_t values_ = 0;
  AmfLimits limits_;
  std::string error_;
};

/* Appends the AMF0 encoding of values to out. */
void amf_encode(std::vector<uint8_t> &out, const AmfValue &value);
std::vector<uint8_t> amf_encode_all(const std::vector<AmfValue> &values);

} // namespace sugarcast::rtmp
