/* sugarcastd — metrics. See metrics.h. */
#include "metrics.h"

#include <cstdio>

namespace sugarcast {

namespace {

std::string label_text(const Labels &labels)
{
  if (labels.empty())
    return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    out += (i ? "," : "") + labels[i].first + "=\"";
    for (char c : labels[i].second) {
      if (c == '\\' || c == '"')
        out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += "\"";
  }
  return out + "}";
}

} // namespace

std::atomic<uint64_t> &Metrics::counter(const std::string &name, const std::string &help,
                                        const Labels &labels)
{
  std::lock_guard<std::mutex> guard(lock_);
  Family &f = families_[name];
  f.help = help;
  f.type = "counter";
  auto &slot = f.counters[label_text(labels)];
  if (!slot)
    slot = std::make_unique<std::atomic<uint64_t>>(0);
  return *slot;
}

void Metrics::gauge(const std::string &name, const std::string &help, std::function<double()> read,
                    const Labels &labels)
{
  std::lock_guard<std::mutex> guard(lock_);
  Family &f = families_[name];
  f.help = help;
  f.type = "gauge";
  f.gauges[label_text(labels)] = std::move(read);
}

void Metrics::remove_gauges(const Labels &labels)
{
  const std::string text = label_text(labels);
  std::lock_guard<std::mutex> guard(lock_);
  for (auto it = families_.begin(); it != families_.end();) {
    it->second.gauges.erase(text);
    if (it->second.gauges.empty() && it->second.counters.empty())
      it = families_.erase(it);
    else
      ++it;
  }
}

std::string Metrics::render() const
{
  std::lock_guard<std::mutex> guard(lock_);
  std::string out;
  for (const auto &[name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto &[labels, value] : f.counters)
      out += name + labels + " " + std::to_string(value->load()) + "\n";
    for (const auto &[labels, read] : f.gauges) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.17g", read());
      out += name + labels + " " + buf + "\n";
    }
  }
  return out;
}

} // namespace sugarcast
