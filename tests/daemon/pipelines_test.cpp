/* Pipeline descriptions: the schema is the contract (checked against an
 * independent validator), the daemon's own checks go further, and the
 * shipped descriptions build pipelines that produce what they promise. */
#include "jsonschema.h"
#include "media.h"
#include "pipelines.h"
#include "testenv.h"

#include <gio/gio.h>
#include <gst/base/gstbasetransform.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

using namespace sugarcast;
namespace fs = std::filesystem;

namespace {

std::string fixtures()
{
  return test::source_dir() + "/tests/daemon/pipeline-fixtures";
}

std::vector<std::string> files_matching(const std::string &dir, const std::string &prefix)
{
  std::vector<std::string> out;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0 && e.path().extension() == ".json")
      out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

/* The files fastjsonschema accepts, out of `files`. */
std::set<std::string> accepted_by_fastjsonschema(const std::string &schema,
                                                 const std::vector<std::string> &files)
{
  std::vector<std::string> argv = {"/usr/bin/python3",
                                   test::source_dir() + "/tests/daemon/validate_schema.py", schema};
  argv.insert(argv.end(), files.begin(), files.end());
  test::ProcessResult r = test::run_process(argv);
  EXPECT_EQ(r.exit_status, 0) << r.err;
  std::set<std::string> valid;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("valid ", 0) == 0)
      valid.insert(line.substr(6));
  return valid;
}

/* The files the daemon's schema stage accepts. */
std::set<std::string> accepted_by_daemon(const char *resource,
                                         const std::vector<std::string> &files)
{
  std::string error;
  auto schema = JsonSchema::load_resource(resource, error);
  EXPECT_TRUE(schema) << error;
  std::set<std::string> valid;
  for (const auto &f : files) {
    g_autoptr(JsonParser) p = json_parser_new();
    if (json_parser_load_from_file(p, f.c_str(), nullptr) &&
        schema->validate(json_parser_get_root(p)).empty())
      valid.insert(f);
  }
  return valid;
}

} // namespace

TEST(PipelineSchema, DaemonAndFastjsonschemaAgreeOnEveryFixture)
{
  const std::string schema = test::source_dir() + "/schemas/pipeline.schema.json";
  std::vector<std::string> files = files_matching(fixtures(), "");
  for (const auto &f : files_matching(test::source_dir() + "/pipelines", ""))
    files.push_back(f);
  ASSERT_GE(files.size(), 20u);
  auto python = accepted_by_fastjsonschema(schema, files);
  auto daemon = accepted_by_daemon("/sugarcast/schemas/pipeline.schema.json", files);
  EXPECT_EQ(python, daemon);
  for (const auto &f : files) {
    const std::string name = fs::path(f).filename().string();
    const bool should_pass = name.rfind("schema-bad-", 0) != 0;
    EXPECT_EQ(daemon.count(f) == 1, should_pass) << name;
  }
}

TEST(PipelineSchema, TheConfigSchemaAgreesToo)
{
  const std::string dir = test::scratch_dir() + "/config-fixtures";
  fs::create_directories(dir);
  const std::map<std::string, std::string> cases = {
      {"empty.json", "{}"},
      {"ports.json", R"({"http": {"port": 9000}, "rtmp": {"port": 1936}})"},
      {"bad-port.json", R"({"http": {"port": 70000}})"},
      {"bad-field.json", R"({"colour": "blue"})"},
      {"bad-gift.json", R"({"gifts": {"catalogue": [{"id": "A B", "name": "x", "coins": 1}]}})"},
      {"bad-filter.json", R"({"chat": {"filter_mode": "blur"}})"},
      {"gifts.json", R"({"gifts": {"catalogue": [{"id": "star", "name": "Star", "coins": 3}]}})"},
  };
  std::vector<std::string> files;
  for (const auto &[name, text] : cases) {
    files.push_back(dir + "/" + name);
    std::ofstream(files.back()) << text;
  }
  auto python =
      accepted_by_fastjsonschema(test::source_dir() + "/schemas/config.schema.json", files);
  auto daemon = accepted_by_daemon("/sugarcast/schemas/config.schema.json", files);
  EXPECT_EQ(python, daemon);
  EXPECT_EQ(daemon.size(), 3u);
}

TEST(PipelineDescriptions, DaemonRefusesWhatTheSchemaCannotSee)
{
  const std::map<std::string, std::string> expected = {
      {"semantic-unknown-factory.json",
       "/nodes/ladder/factory: no GStreamer element \"abrlader\" is installed"},
      {"semantic-unknown-property.json",
       "/nodes/src/properties/colour: element videotestsrc has no writable property \"colour\""},
      {"semantic-bad-enum.json",
       "/nodes/src/properties/pattern: expected one of smpte, snow, black,"},
      {"semantic-out-of-range.json",
       "/nodes/v/properties/max-width: expected an integer from 0 to 2147483647, found \"-5\""},
      {"semantic-unknown-parameter.json",
       "/nodes/src/properties/location: unknown parameter ${upload.pth}; a clip description "
       "can use ${clip.dir}"},
      {"semantic-parameter-type.json",
       "/nodes/v/properties/max-height: expected an integer from 0 to 2147483647, found "
       "\"/var/lib/sugarcast/clips/c7m2x9q4ab\" (after filling in \"${clip.dir}\")"},
      {"semantic-bad-pad.json", "/links/0/to: element v has no sink pad \"video\" (its sink pads: "
                                "sink)"},
      {"semantic-incompatible-pads.json",
       "/links/0: src.src and conv.sink have no media format in common"},
      {"semantic-unlinked-node.json", "/nodes/spare: node \"spare\" is not linked"},
      {"semantic-no-validator.json",
       "/nodes: a clip description needs exactly one clipvalidate node, found 0"},
      {"semantic-unknown-link-node.json", "/links/1/to: no node named \"sink\""},
      {"semantic-select-on-static-pad.json",
       "/links/0: \"select\" needs a source pad that appears at run time"},
      {"semantic-only-if-unknown-parameter.json",
       "/nodes/o/only_if: unknown parameter ${clip.gift}; a clip description can use"},
      {"semantic-only-if-two-links-out.json",
       "/nodes/o/only_if: a node that may be left out needs exactly one link in and one link "
       "out, joined when it is; o has 1 in and 2 out"},
      {"semantic-only-if-both-caps.json",
       "/nodes/o/only_if: only one of the links of a node that may be left out can have caps"},
      {"semantic-only-if-required-node.json",
       "/nodes/v/only_if: the clipvalidate node of a clip description cannot be left out"},
      {"semantic-only-if-joined-incompatible.json",
       "/nodes/enc/only_if: src.src and dec.sink have no media format in common"},
      {"semantic-only-if-two-in-a-row.json",
       "/nodes/a/only_if: two nodes in a row that may be left out (src -> a -> b)"},
  };
  for (const auto &f : files_matching(fixtures(), "semantic-")) {
    const std::string name = fs::path(f).filename().string();
    ASSERT_TRUE(expected.count(name)) << "no expectation for " << name;
    std::string error;
    EXPECT_FALSE(PipelineDescription::parse(f, test::read_file(f), error)) << name;
    EXPECT_NE(error.find(f + ": " + expected.at(name)), std::string::npos) << name << " said:\n"
                                                                           << error;
  }
}

TEST(PipelineDescriptions, SyntaxErrorsNameFileAndLine)
{
  std::string error;
  EXPECT_FALSE(PipelineDescription::parse("broken.json", "{\n \"kind\": \"clip\",,\n}", error));
  EXPECT_EQ(error.rfind("broken.json:2:", 0), 0u) << error;
}

TEST(PipelineCatalog, LoadsTheShippedDescriptionsAndAnOperatorsFolder)
{
  PipelineCatalog catalog;
  std::string error;
  ASSERT_TRUE(catalog.load("", error)) << error;
  ASSERT_NE(catalog.find("clip"), nullptr);
  EXPECT_EQ(catalog.find("clip")->kind(), "clip");

  /* An operator's folder: a replacement and a broken file, both reported. */
  const std::string dir = test::scratch_dir() + "/operator-pipelines";
  fs::create_directories(dir);
  std::ofstream(dir + "/clip.json") << test::read_file(test::source_dir() + "/pipelines/clip.json");
  std::ofstream(dir + "/broken.json") << R"({"kind": "clip", "nodes": {}, "links": []})";
  PipelineCatalog operator_catalog;
  EXPECT_FALSE(operator_catalog.load(dir, error));
  EXPECT_NE(error.find(dir + "/broken.json: /links: expected at least 1 items"), std::string::npos)
      << error;
  EXPECT_NE(error.find(dir + "/broken.json: /nodes: expected at least 1 fields"), std::string::npos)
      << error;
  EXPECT_EQ(operator_catalog.find("clip")->file(), dir + "/clip.json");
}

/* A node with only_if is built when its parameter has a value; without one
 * it is left out and the links on either side of it are one. */
TEST(PipelineDescriptions, ANodeOnlyIfItsParameterIsSetIsLeftOutAndBypassedWithout)
{
  const std::string text = R"({"kind": "clip",
    "nodes": {"src": {"factory": "videotestsrc"},
              "v": {"factory": "clipvalidate"},
              "o": {"factory": "identity", "only_if": "${clip.gifts}"},
              "sink": {"factory": "fakesink"}},
    "links": [{"from": "src", "to": "v"},
              {"from": "v", "to": "o", "caps": "video/x-raw,format=I420"},
              {"from": "o", "to": "sink"}]})";
  std::string error;
  auto d = PipelineDescription::parse("only-if.json", text, error);
  ASSERT_TRUE(d) << error;
  ASSERT_NE(d->bypass("o"), nullptr);
  EXPECT_EQ(d->bypass("o")->from_node, "v");
  EXPECT_EQ(d->bypass("o")->to_node, "sink");
  EXPECT_EQ(d->bypass("o")->caps, "video/x-raw,format=I420");
  EXPECT_EQ(d->bypass("v"), nullptr);

  /* The element v's output reaches, past the link's capsfilter; whether o is
   * in the pipeline. */
  auto build = [&](const std::string &gifts, bool &has_o) -> std::string {
    PipelineParams params = pipeline_parameters("clip");
    params["clip.gifts"] = gifts;
    g_autoptr(GstElement) pipeline = d->instantiate("only-if", params, error);
    EXPECT_NE(pipeline, nullptr) << error;
    if (!pipeline)
      return "";
    g_autoptr(GstElement) o = gst_bin_get_by_name(GST_BIN(pipeline), "o");
    has_o = o != nullptr;
    g_autoptr(GstElement) v = gst_bin_get_by_name(GST_BIN(pipeline), "v");
    g_autoptr(GstPad) out = gst_element_get_static_pad(v, "src");
    g_autoptr(GstPad) peer = gst_pad_get_peer(out);
    if (!peer)
      return "";
    g_autoptr(GstElement) next = gst_pad_get_parent_element(peer);
    g_autoptr(GstPad) filter_out = gst_element_get_static_pad(next, "src");
    g_autoptr(GstPad) filter_peer = filter_out ? gst_pad_get_peer(filter_out) : nullptr;
    if (!filter_peer)
      return "";
    g_autoptr(GstElement) reached = gst_pad_get_parent_element(filter_peer);
    return GST_OBJECT_NAME(reached);
  };
  bool has_o = false;
  EXPECT_EQ(build("/tmp/gifts.jsonl", has_o), "o") << "with the parameter set, through the node";
  EXPECT_TRUE(has_o);
  EXPECT_EQ(build("", has_o), "sink") << "with the parameter empty, straight from v to sink";
  EXPECT_FALSE(has_o);
}

/* The shipped clip description, run on real uploads. */
class ClipPipeline : public ::testing::Test
{
protected:
  struct Outcome
  {
    bool eos = false;
    std::string error;
    bool upright_passthrough = false; /* the videoflip node, at the end */
    bool gift_overlay = false;        /* the giftoverlay node is in the pipeline */
  };

  /* `gifts`: the events file of a highlight's gifts; "" for an upload. */
  Outcome run(const std::string &upload, const std::string &out_dir, const std::string &gifts = "")
  {
    PipelineCatalog catalog;
    std::string error;
    EXPECT_TRUE(catalog.load("", error)) << error;
    fs::create_directories(out_dir);
    PipelineParams params = pipeline_parameters("clip");
    params["upload.path"] = upload;
    params["clip.dir"] = out_dir;
    params["clip.gifts"] = gifts;
    GstElement *pipeline = catalog.find("clip")->instantiate("clip-test", params, error);
    EXPECT_NE(pipeline, nullptr) << error;
    Outcome outcome;
    if (!pipeline)
      return outcome;
    EXPECT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    g_autoptr(GstBus) bus = gst_element_get_bus(pipeline);
    g_autoptr(GstMessage) msg = gst_bus_timed_pop_filtered(
        bus, 60 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    EXPECT_NE(msg, nullptr) << "the clip pipeline did not finish in a minute";
    if (msg && GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR) {
      g_autoptr(GError) err = nullptr;
      gst_message_parse_error(msg, &err, nullptr);
      outcome.error = err->message;
    } else if (msg) {
      outcome.eos = true;
    }
    if (g_autoptr(GstElement) overlay = gst_bin_get_by_name(GST_BIN(pipeline), "gifts"))
      outcome.gift_overlay = true;
    if (g_autoptr(GstElement) upright = gst_bin_get_by_name(GST_BIN(pipeline), "upright"))
      outcome.upright_passthrough = gst_base_transform_is_passthrough(GST_BASE_TRANSFORM(upright));
    gst_element_set_state(pipeline, GST_STATE_NULL);
    gst_object_unref(pipeline);
    return outcome;
  }

  std::string probe(const std::string &file)
  {
    auto r = test::run_process({"ffprobe", "-v", "error", "-show_entries",
                                "stream=codec_name,width,height", "-of", "csv=p=0", file});
    EXPECT_EQ(r.exit_status, 0) << r.err;
    /* one line per stream, in a stable order whatever the muxer's */
    std::vector<std::string> lines;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    std::sort(lines.begin(), lines.end(), std::greater<>());
    std::string out;
    for (const auto &l : lines)
      out += l + "\n";
    return out;
  }
};

TEST_F(ClipPipeline, TranscodesAnAcceptedClipToMp4WebmAndAThumbnail)
{
  const std::string out = test::scratch_dir() + "/clip-ok";
  Outcome o = run(test::make_clip({.seconds = 16, .width = 320, .height = 240}), out);
  EXPECT_TRUE(o.eos) << o.error;
  EXPECT_EQ(probe(out + "/clip.mp4"), "h264,320,240\naac\n");
  EXPECT_EQ(probe(out + "/clip.webm"), "vp9,320,240\nopus\n");
  EXPECT_EQ(probe(out + "/thumbnail-01.jpg"), "mjpeg,320,240\n");
  EXPECT_TRUE(fs::exists(out + "/thumbnail-15.jpg"));
  EXPECT_FALSE(fs::exists(out + "/thumbnail-17.jpg"));
  /* An upright clip is not copied frame by frame on its way to the encoders
   * (videoflip with video-direction=auto alone would: see clip.json). */
  EXPECT_TRUE(o.upright_passthrough);
  /* An upload has no gifts to draw: no overlay in its pipeline at all. */
  EXPECT_FALSE(o.gift_overlay);
  auto duration = test::run_process({"ffprobe", "-v", "error", "-show_entries", "format=duration",
                                     "-of", "csv=p=0", out + "/clip.mp4"});
  EXPECT_NEAR(std::stod(duration.out), 16.0, 0.1);
}

/* A highlight's gifts (${clip.gifts}, as the daemon writes them from the
 * ledger) are drawn into the outputs from their `at` on, not before. */
TEST_F(ClipPipeline, AHighlightsGiftsAreDrawnFromTheirTimeOn)
{
  const std::string out = test::scratch_dir() + "/clip-gifts";
  fs::create_directories(out);
  const std::string gifts = out + "/gifts.jsonl";
  std::ofstream(gifts) << R"({"id":"gift-7","gift":"castle","name":"Castle","user":"Fan","at":4})"
                       << "\n";
  /* The lower left, where the banner goes, a still red. */
  const std::string upload = test::make_clip(
      {.seconds = 16,
       .width = 320,
       .height = 240,
       .extra = {"-vf", "drawbox=x=0:y=ih*0.6:w=iw*0.15:h=ih*0.3:color=red:t=fill"}});
  Outcome o = run(upload, out, gifts);
  EXPECT_TRUE(o.eos) << o.error;
  EXPECT_TRUE(o.gift_overlay);
  EXPECT_EQ(probe(out + "/clip.mp4"), "h264,320,240\naac\n");
  const test::Rect banner = test::gift_banner_centre(320, 240);
  auto frame = [&](const std::string &file, double seconds) {
    return test::decode_rgb_frame(file, static_cast<int>(seconds * 30), 320, 240);
  };
  for (const std::string &file : {out + "/clip.mp4", out + "/clip.webm"}) {
    const std::string first = frame(file, 1.0);
    EXPECT_LT(test::mean_difference(first, frame(file, 3.8), 320, 240, banner), 10) << file;
    EXPECT_GT(test::mean_difference(first, frame(file, 5.5), 320, 240, banner), 50) << file;
  }
}

/* A phone's portrait clip: landscape pixels with a 90° display matrix. */
TEST_F(ClipPipeline, ARotatedClipIsTurnedUpright)
{
  const std::string out = test::scratch_dir() + "/clip-rotated";
  Outcome o =
      run(test::make_clip({.seconds = 16, .width = 640, .height = 360, .rotation = 90}), out);
  EXPECT_TRUE(o.eos) << o.error;
  EXPECT_EQ(probe(out + "/clip.mp4"), "h264,360,640\naac\n");
  EXPECT_FALSE(o.upright_passthrough);
}

TEST_F(ClipPipeline, AClipWithoutAudioLosesTheAudioBranch)
{
  const std::string out = test::scratch_dir() + "/clip-silent";
  Outcome o = run(
      test::make_clip({.seconds = 16, .video = "vp9", .audio = false, .container = "webm"}), out);
  EXPECT_TRUE(o.eos) << o.error;
  EXPECT_EQ(probe(out + "/clip.mp4"), "h264,320,240\n");
  EXPECT_EQ(probe(out + "/clip.webm"), "vp9,320,240\n");
}

TEST_F(ClipPipeline, ARejectedClipStopsWithTheValidatorsMessage)
{
  const std::string out = test::scratch_dir() + "/clip-short";
  Outcome o = run(test::make_clip({.seconds = 10}), out);
  EXPECT_FALSE(o.eos);
  EXPECT_EQ(o.error, "Clip is 10.0 s long; clips must be 15\u201360 s");
}

TEST_F(ClipPipeline, AnAudioOnlyUploadHasNoVideo)
{
  const std::string out = test::scratch_dir() + "/clip-audio";
  Outcome o = run(test::make_clip({.seconds = 20, .video = ""}), out);
  EXPECT_FALSE(o.eos);
  EXPECT_EQ(o.error, "The file contains no video stream; a clip needs video");
}
