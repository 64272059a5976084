/* Sugarcast — the rendition ladder. See ladder.h. */
#include "ladder.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

namespace sugarcast::abr {

namespace {

std::string trim(const std::string &s)
{
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
    --e;
  return s.substr(b, e - b);
}

std::vector<std::string> split(const std::string &s, char sep)
{
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos)
      break;
    start = pos + 1;
  }
  return parts;
}

std::optional<int> parse_positive(const std::string &s, int max)
{
  int value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value <= 0 || value > max)
    return std::nullopt;
  return value;
}

std::string canonical(const RungSpec &r)
{
  std::string text = r.source ? "source" : std::to_string(r.short_side) + "p";
  if (r.kbps > 0 || !r.source)
    text += ":" + std::to_string(r.kbps);
  if (r.max_fps > 0)
    text += ":" + std::to_string(r.max_fps);
  return text;
}

} // namespace

int nearest_even(double value)
{
  int even = static_cast<int>(std::lround(value / 2.0)) * 2;
  return std::max(even, 2);
}

std::optional<std::vector<RungSpec>> parse_ladder(const std::string &text, std::string &error)
{
  std::vector<RungSpec> rungs;
  const std::string expected =
      "expected HEIGHTp:KBPS[:MAXFPS] (like 720p:2800 or 360p:800:30) or source[:KBPS]";
  auto entries = split(text, ',');
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string entry = trim(entries[i]);
    auto fail = [&](const std::string &why) {
      error = "ladder entry " + std::to_string(i + 1) + " '" + entry + "': " + why;
      return std::nullopt;
    };
    if (entry.empty())
      return fail("empty; " + expected);
    auto fields = split(entry, ':');
    for (auto &f : fields)
      f = trim(f);
    RungSpec rung;
    std::string name = fields[0];
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "source") {
      if (fields.size() > 2)
        return fail("a source rung takes at most a bitrate; " + expected);
      rung.source = true;
      if (fields.size() == 2) {
        auto kbps = parse_positive(fields[1], 1000000);
        if (!kbps)
          return fail("the bitrate must be a whole number of kb/s between 1 and 1000000");
        rung.kbps = *kbps;
      }
      if (std::any_of(rungs.begin(), rungs.end(), [](const RungSpec &r) { return r.source; }))
        return fail("only one source rung is allowed");
    } else {
      if (fields.size() < 2 || fields.size() > 3)
        return fail(expected);
      if (name.size() < 2 || name.back() != 'p')
        return fail("the size must be a height followed by 'p'; " + expected);
      auto side = parse_positive(name.substr(0, name.size() - 1), 8192);
      if (!side || *side < 16)
        return fail("the height must be a whole number of pixels between 16 and 8192");
      auto kbps = parse_positive(fields[1], 1000000);
      if (!kbps)
        return fail("the bitrate must be a whole number of kb/s between 1 and 1000000");
      rung.short_side = *side;
      rung.kbps = *kbps;
      if (fields.size() == 3) {
        auto fps = parse_positive(fields[2], 1000);
        if (!fps)
          return fail("the maximum frame rate must be a whole number between 1 and 1000");
        rung.max_fps = *fps;
      }
    }
    rung.text = canonical(rung);
    rungs.push_back(rung);
  }
  if (std::none_of(rungs.begin(), rungs.end(), [](const RungSpec &r) { return !r.source; })) {
    error = "the ladder needs at least one encoded rung besides 'source'";
    return std::nullopt;
  }
  std::stable_sort(rungs.begin(), rungs.end(), [](const RungSpec &a, const RungSpec &b) {
    if (a.source != b.source)
      return a.source;
    if (a.short_side != b.short_side)
      return a.short_side > b.short_side;
    return a.kbps > b.kbps;
  });
  return rungs;
}

std::string format_ladder(const std::vector<RungSpec> &rungs)
{
  std::string text;
  for (const auto &r : rungs) {
    if (!text.empty())
      text += ",";
    text += canonical(r);
  }
  return text;
}

LadderPlan plan_rungs(const std::vector<RungSpec> &rungs, const SourcePicture &source,
                      bool with_source)
{
  LadderPlan plan;
  const int par_n = source.par_n > 0 ? source.par_n : 1;
  const int par_d = source.par_d > 0 ? source.par_d : 1;
  /* The picture as displayed, in square pixels. */
  const double display_w = static_cast<double>(source.width) * par_n / par_d;
  const double display_h = source.height;
  plan.portrait = display_h > display_w;
  const double short_side = plan.portrait ? display_w : display_h;
  const double aspect = display_h > 0 ? display_w / display_h : 1.0;

  auto size_for = [&](double side, PlannedRung &p) {
    if (plan.portrait) {
      p.width = nearest_even(side);
      p.height = nearest_even(side / aspect);
    } else {
      p.height = nearest_even(side);
      p.width = nearest_even(side * aspect);
    }
  };
  auto frame_rate = [&](PlannedRung &p) {
    p.fps_n = source.fps_n;
    p.fps_d = source.fps_d;
    if (p.spec.max_fps <= 0 || source.fps_n <= 0 || source.fps_d <= 0)
      return;
    const double fps = static_cast<double>(source.fps_n) / source.fps_d;
    /* A small epsilon so 30000/1001 under a 30 fps cap is kept whole. */
    p.decimation = std::max(1, static_cast<int>(std::ceil(fps / p.spec.max_fps - 1e-6)));
    p.fps_d = source.fps_d * p.decimation;
  };

  const RungSpec *smallest = nullptr;
  for (const auto &spec : rungs) {
    if (spec.source) {
      if (with_source) {
        PlannedRung p;
        p.spec = spec;
        plan.active.push_back(p);
      } else {
        plan.dropped.push_back(spec);
      }
      continue;
    }
    smallest = &spec;
    /* A rung up to half a pixel above the source's short side is the source's
     * own size (1366x768 sources are 767.9 lines tall at 16:9). */
    if (spec.short_side > short_side + 0.5) {
      plan.dropped.push_back(spec);
      continue;
    }
    PlannedRung p;
    p.spec = spec;
    size_for(spec.short_side, p);
    frame_rate(p);
    plan.active.push_back(p);
  }

  const bool any_encoded =
      std::any_of(plan.active.begin(), plan.active.end(), [](auto &p) { return !p.spec.source; });
  if (!any_encoded && smallest) {
    PlannedRung p;
    p.spec = *smallest;
    /* The source's own size, rounded down to even. */
    p.width = std::max(2, static_cast<int>(display_w) / 2 * 2);
    p.height = std::max(2, source.height / 2 * 2);
    p.clamped = true;
    frame_rate(p);
    plan.active.push_back(p);
    plan.dropped.erase(std::remove_if(plan.dropped.begin(), plan.dropped.end(),
                                      [&](const RungSpec &r) { return r.text == smallest->text; }),
                       plan.dropped.end());
  }
  return plan;
}

} // namespace sugarcast::abr
