// SPDX-License-Identifier: Apache-2.0
// The FaceSwap OFX plugin (io.doppel.FaceSwap v1): clips, parameters and actions. It moves pixels
// and parameter values between the host and the bridge; every decision is the engine's.
//
// Coordinates: OFX images are y-up (row 0 at the bottom, `bounds` in pixels); the engine and the
// track use the plate's display window, y down (as EXR). The display window is the Source clip's
// format where the host gives one (kOfxImageClipPropFormat), else the project extent from (0, 0);
// converting a row: y_down = (display_y0 + H - 1) - y_up. Buffers are handed over as strided
// views (a bottom-up buffer is a negative row stride), never repacked.
//
// Render scale: any the host asks (proxy renders). Images and windows are in pixels at that
// scale; the display window handed to the engine is the full one scaled (lround, as
// engine.geometry.track.scale_window), and the engine scales the track and the plate-pixel knobs
// (erode and blur when their Units are px; in % of the face they need nothing).
//
// Statuses: every action returns only what the specification lists for it (kSpecStatuses; the
// OpenFX headers' @returns: ofxCore.h, ofxImageEffect.h). A failure is a typed error
// (bridge::Error with an ErrorKind, chosen on the Python side by the error's class); status_for()
// turns (action, kind) into the status, and every message the user sees starts with kPrefix.
//
// Python: nothing at load or describe. The interpreter is started (or the host's attached) on the
// first action that needs the engine (regions of interest, identity, render, Analyze).
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "bridge.h"
#include "ofx/ofx_api.h"
#include "params.gen.h"

namespace {

using doppel::bridge::Display;
using doppel::bridge::ErrorKind;
using doppel::bridge::ImageView;
using doppel::bridge::Values;
namespace P = doppel_params;

constexpr const char* kPluginId = "io.doppel.FaceSwap";
constexpr const char* kMaskClip = "Mask";
// Every message this plugin posts starts with this (one prefix, whatever the error's origin).
constexpr const char* kPrefix = "Doppel FaceSwap: ";

OfxHost* gHost = nullptr;
const OfxPropertySuiteV1* gProp = nullptr;
const OfxImageEffectSuiteV1* gEffect = nullptr;
const OfxParameterSuiteV1* gParam = nullptr;
const OfxMessageSuiteV1* gMsg1 = nullptr;
const OfxMessageSuiteV2* gMsg2 = nullptr;
const OfxProgressSuiteV1* gProgress = nullptr;
bool gHostTemporalAccess = false;  // the host lets us fetch other frames (Analyze needs it)

// A failure found on the C++ side: a typed error like the engine's (the kind chooses the status).
[[noreturn]] void fail(ErrorKind kind, const std::string& message) {
  throw doppel::bridge::Error(message, kind);
}

// The statuses each action may return, from the specification (OpenFX 1.4 / 1.5 headers, the
// @returns list of each action: ofxCore.h for the generic actions, ofxImageEffect.h for the
// image effect ones). Anything else is never returned (conform()).
const std::map<std::string, std::vector<OfxStatus>>& spec_statuses() {
  static const std::map<std::string, std::vector<OfxStatus>> table = {
      {kOfxActionLoad, {kOfxStatOK, kOfxStatReplyDefault, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxActionUnload, {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal}},
      {kOfxActionDescribe,
       {kOfxStatOK, kOfxStatErrMissingHostFeature, kOfxStatErrMemory, kOfxStatFailed,
        kOfxStatErrFatal}},
      {kOfxImageEffectActionDescribeInContext,
       {kOfxStatOK, kOfxStatErrMissingHostFeature, kOfxStatErrMemory, kOfxStatFailed,
        kOfxStatErrFatal}},
      {kOfxActionCreateInstance,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatErrMemory, kOfxStatFailed}},
      {kOfxActionDestroyInstance,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxActionInstanceChanged,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxActionBeginInstanceChanged,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxActionEndInstanceChanged,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxActionPurgeCaches, {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxActionSyncPrivateData,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxActionBeginInstanceEdit,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxActionEndInstanceEdit,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrFatal, kOfxStatFailed}},
      {kOfxImageEffectActionGetRegionOfDefinition,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionGetRegionsOfInterest,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionGetTimeDomain,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionGetFramesNeeded,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionGetClipPreferences,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionIsIdentity,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionRender,
       {kOfxStatOK, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionBeginSequenceRender,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
      {kOfxImageEffectActionEndSequenceRender,
       {kOfxStatOK, kOfxStatReplyDefault, kOfxStatErrMemory, kOfxStatFailed, kOfxStatErrFatal}},
  };
  return table;
}

bool allowed(const std::string& action, OfxStatus st) {
  const auto& table = spec_statuses();
  const auto it = table.find(action);
  if (it == table.end()) return st == kOfxStatReplyDefault;  // an action we do not know
  return std::find(it->second.begin(), it->second.end(), st) != it->second.end();
}

// The status an engine failure of `kind` gets in `action`: ErrMemory for an allocation failure
// where the action allows it (the host may free caches and call again), else Failed (with the
// message posted): the one failure status every action that can fail lists.
OfxStatus status_for(const std::string& action, ErrorKind kind) {
  if (kind == ErrorKind::kMemory && allowed(action, kOfxStatErrMemory)) return kOfxStatErrMemory;
  if (allowed(action, kOfxStatFailed)) return kOfxStatFailed;
  return kOfxStatErrFatal;  // unload: nothing of ours fails there
}

// A last guard: a status the specification does not list for `action` is never returned.
OfxStatus conform(const std::string& action, OfxStatus st) {
  if (allowed(action, st)) return st;
  return status_for(action, ErrorKind::kInternal);
}

// The message a user sees: kPrefix once, then the engine's (or our) one line.
std::string with_prefix(std::string text) {
  text = text.substr(0, text.find('\n'));  // one line, whatever came (tracebacks go to logs)
  for (const char* old : {kPrefix, "Doppel: "})
    if (text.rfind(old, 0) == 0) text.erase(0, std::strlen(old));
  return kPrefix + text;
}

std::string module_path() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&module_path), &info) && info.dli_fname) return info.dli_fname;
  return "";
}

struct Instance {
  OfxImageEffectHandle effect = nullptr;
  OfxImageClipHandle source = nullptr, mask = nullptr, output = nullptr;
  OfxParamSetHandle params = nullptr;
  std::map<std::string, OfxParamHandle> handles;
  std::mutex node_mutex;  // guards the creation of `node`
  std::unique_ptr<doppel::bridge::Node> node;
  std::atomic<long> loads_seen{0};
  std::atomic<bool> has_persistent{false};
};

// ----------------------------------------------------------------------------- properties
std::string get_string(OfxPropertySetHandle h, const char* name, int index = 0) {
  char* v = nullptr;
  if (gProp->propGetString(h, name, index, &v) != kOfxStatOK || !v) return "";
  return v;
}
double get_double(OfxPropertySetHandle h, const char* name, int index = 0, double dflt = 0) {
  double v = dflt;
  return gProp->propGetDouble(h, name, index, &v) == kOfxStatOK ? v : dflt;
}
int get_int(OfxPropertySetHandle h, const char* name, int index = 0, int dflt = 0) {
  int v = dflt;
  return gProp->propGetInt(h, name, index, &v) == kOfxStatOK ? v : dflt;
}

Instance* instance_of(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  gEffect->getPropertySet(effect, &props);
  void* p = nullptr;
  gProp->propGetPointer(props, kOfxPropInstanceData, 0, &p);
  if (!p) fail(ErrorKind::kInternal, "the host gave an instance without its data");
  return static_cast<Instance*>(p);
}

// ----------------------------------------------------------------------------- messages
// `persistent`: a render failure, shown on the node (message suite V2). A host with only V1 gets
// it at log level: V1 errors are often modal dialogs, one per failing frame from render threads.
void post(Instance* in, const char* type, const std::string& message, bool persistent) noexcept {
  try {
    void* h = in->effect;
    const std::string text = with_prefix(message);
    if (persistent && gMsg2) {
      gMsg2->setPersistentMessage(h, type, "", "%s", text.c_str());
      in->has_persistent = true;
    } else if (gMsg2) {
      gMsg2->message(h, type, "", "%s", text.c_str());
    } else if (gMsg1) {
      gMsg1->message(h, persistent ? kOfxMessageLog : type, "", "%s", text.c_str());
    }
  } catch (...) {  // nothing may escape into the host
  }
}

void clear_persistent(Instance* in) {
  if (gMsg2 && in->has_persistent.exchange(false)) gMsg2->clearPersistentMessage(in->effect);
}

// ----------------------------------------------------------------------------- engine access
doppel::bridge::Node& node_of(Instance* in) {
  std::lock_guard<std::mutex> lock(in->node_mutex);
  if (!in->node) {
    doppel::bridge::ensure_python(module_path());
    in->node = std::make_unique<doppel::bridge::Node>();
  }
  return *in->node;
}

// String parameters: the specification lets a host return them in a buffer it owns and reuses
// (OpenFX's reference host, HostSupport, keeps one per parameter and rewrites it on every get), so
// a get and the copy of its result must not overlap another get on any thread, of any instance.
std::mutex gStringParamMutex;

std::string read_string_param(OfxParamHandle h, OfxTime t) {
  std::lock_guard<std::mutex> lock(gStringParamMutex);
  char* v = nullptr;
  if (gParam->paramGetValueAtTime(h, t, &v) != kOfxStatOK || !v) return "";
  return std::string(v);
}

Values read_values(Instance* in, OfxTime t) {
  Values values;
  for (int i = 0; i < P::kNumParams; ++i) {
    const P::Param& p = P::kParams[i];
    OfxParamHandle h = in->handles.at(p.name);
    switch (p.kind) {
      case P::kString:
      case P::kFile: {
        values.emplace_back(p.name, read_string_param(h, t));
        break;
      }
      case P::kChoice: {
        int v = 0;
        gParam->paramGetValueAtTime(h, t, &v);
        if (v < 0 || v >= p.nchoices)
          fail(ErrorKind::kSettings, std::string(p.label) + ": option " + std::to_string(v) +
                                         " out of range; pick one from the list");
        values.emplace_back(p.name, std::string(p.choices[v]));
        break;
      }
      case P::kDouble: {
        double v = 0;
        gParam->paramGetValueAtTime(h, t, &v);
        values.emplace_back(p.name, v);
        break;
      }
      case P::kInt: {
        int v = 0;
        gParam->paramGetValueAtTime(h, t, &v);
        values.emplace_back(p.name, v);
        break;
      }
      case P::kBool: {
        int v = 0;
        gParam->paramGetValueAtTime(h, t, &v);
        values.emplace_back(p.name, v != 0);
        break;
      }
      case P::kButton:
        break;
    }
  }
  return values;
}

struct Frame {
  Display display;  // the display window: origin 0,0 in its own pixels, size, pixel aspect
  OfxPointD scale{1, 1};
  double par = 1.0;
  int x0 = 0;     // the window's left column in OFX pixels
  int y_top = 0;  // the window's top row in OFX pixels (y up): y0 + H - 1
};

// The Source clip's format (the plate's display window), OFX pixels at render scale 1: the clip
// property kOfxImageClipPropFormat where the host sets it (Natron, OFX 1.5), else the project
// extent from (0, 0) (Nuke and most hosts: the project is the format the comp renders to).
bool clip_format(OfxImageClipHandle clip, OfxRectI* r) {
  OfxPropertySetHandle props = nullptr;
  if (!clip || gEffect->clipGetPropertySet(clip, &props) != kOfxStatOK) return false;
  return gProp->propGetIntN(props, kOfxImageClipPropFormat, 4, &r->x1) == kOfxStatOK &&
         r->x2 > r->x1 && r->y2 > r->y1;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

// The render scale of an action's inArgs. One number: the engine scales a similarity (the face's
// alignment), which a scale different in x and y is not; hosts scale both alike (pixel aspect is
// separate).
OfxPointD render_scale(OfxPropertySetHandle args) {
  const OfxPointD s{get_double(args, kOfxImageEffectPropRenderScale, 0, 1),
                    get_double(args, kOfxImageEffectPropRenderScale, 1, 1)};
  if (!(s.x > 0 && s.y > 0 && std::isfinite(s.x) && std::isfinite(s.y)))
    fail(ErrorKind::kInput, "the host asked for render scale " + num(s.x) + " x " + num(s.y) +
                                "; a render scale must be above 0");
  if (std::fabs(s.x - s.y) > 1e-9 * std::max(s.x, s.y))
    fail(ErrorKind::kInput, "render scale " + num(s.x) + " x " + num(s.y) +
                                " differs in x and y; render with the same scale in both "
                                "(the face's alignment is a similarity)");
  return s;
}

Frame frame_geometry(Instance* in, OfxPointD scale) {
  OfxPropertySetHandle props = nullptr, cprops = nullptr;
  gEffect->getPropertySet(in->effect, &props);
  gEffect->clipGetPropertySet(in->source, &cprops);
  Frame f;
  f.scale = scale;
  f.display.scale = scale.x;
  f.par = get_double(cprops, kOfxImagePropPixelAspectRatio, 0, 1.0);
  if (!(f.par > 0)) f.par = 1.0;
  OfxRectI fmt{};
  f.display.from_project = !clip_format(in->source, &fmt);
  if (f.display.from_project) {
    // Canonical coordinates are pixels × render scale, x also × pixel aspect.
    fmt.x2 = static_cast<int>(
        std::lround(get_double(props, kOfxImageEffectPropProjectExtent, 0) / f.par));
    fmt.y2 = static_cast<int>(std::lround(get_double(props, kOfxImageEffectPropProjectExtent, 1)));
  }
  f.x0 = static_cast<int>(std::lround(fmt.x1 * scale.x));
  f.display.width = static_cast<int>(std::lround((fmt.x2 - fmt.x1) * scale.x));
  f.display.height = static_cast<int>(std::lround((fmt.y2 - fmt.y1) * scale.y));
  f.display.pixel_aspect = f.par;
  f.y_top = static_cast<int>(std::lround(fmt.y1 * scale.y)) + f.display.height - 1;
  if (f.display.width <= 0 || f.display.height <= 0)
    fail(ErrorKind::kInput,
         "the host reports no format for the Source (empty project extent); set the project "
         "(root) format");
  return f;
}

// OFX pixel rect (y up) -> display box (y down, exclusive ends).
doppel::bridge::Box to_display(const Frame& f, const OfxRectI& r) {
  return {r.x1 - f.x0, f.y_top + 1 - r.y2, r.x2 - f.x0, f.y_top + 1 - r.y1};
}
// Display box -> OFX canonical rect.
OfxRectD to_canonical(const Frame& f, const doppel::bridge::Box& b) {
  return {(b.x0 + f.x0) * f.par / f.scale.x, (f.y_top + 1 - b.y1) / f.scale.y,
          (b.x1 + f.x0) * f.par / f.scale.x, (f.y_top + 1 - b.y0) / f.scale.y};
}

// ----------------------------------------------------------------------------- images
struct Image {
  OfxPropertySetHandle handle = nullptr;
  void* data = nullptr;
  OfxRectI bounds{};
  int row_bytes = 0;
  int channels = 0;
  std::string depth, components;

  Image() = default;
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;
  ~Image() {
    if (handle) gEffect->clipReleaseImage(handle);
  }
  int width() const { return bounds.x2 - bounds.x1; }
  int height() const { return bounds.y2 - bounds.y1; }
};

int channels_of(const std::string& components) {
  if (components == kOfxImageComponentRGBA) return 4;
  if (components == kOfxImageComponentRGB) return 3;
  if (components == kOfxImageComponentAlpha) return 1;
  return 0;
}

// Fetch and check an image: 32-bit float only, RGBA / RGB (Alpha allowed for the mask).
bool fetch(OfxImageClipHandle clip, OfxTime t, const OfxRectD* region, Image& img,
           const char* clip_name, bool is_mask) {
  if (gEffect->clipGetImage(clip, t, region, &img.handle) != kOfxStatOK || !img.handle) {
    img.handle = nullptr;
    return false;
  }
  gProp->propGetPointer(img.handle, kOfxImagePropData, 0, &img.data);
  gProp->propGetIntN(img.handle, kOfxImagePropBounds, 4, &img.bounds.x1);
  img.row_bytes = get_int(img.handle, kOfxImagePropRowBytes);
  img.depth = get_string(img.handle, kOfxImageEffectPropPixelDepth);
  img.components = get_string(img.handle, kOfxImageEffectPropComponents);
  img.channels = channels_of(img.components);
  if (img.depth != kOfxBitDepthFloat)
    fail(ErrorKind::kMedia, std::string(clip_name) + " is " + img.depth +
                                "; only 32-bit float images are supported (the host converts "
                                "when told; check the input's bit depth)");
  if (img.channels == 0 || (img.channels == 1 && !is_mask) || (img.channels == 3 && is_mask))
    fail(ErrorKind::kMedia,
         std::string(clip_name) + " has components " + img.components +
             (is_mask ? "; give the mask an alpha (Alpha or RGBA)" : "; use RGBA or RGB"));
  if (!img.data && img.width() > 0 && img.height() > 0)
    fail(ErrorKind::kMedia, std::string("the host gave no pixels for ") + clip_name);
  return true;
}

// A top-down view of `r` (inside img.bounds) of `img`.
ImageView view_of(const Image& img, const OfxRectI& r, bool writable) {
  ImageView v;
  v.width = r.x2 - r.x1;
  v.height = r.y2 - r.y1;
  v.channels = img.channels;
  v.pixel_bytes = static_cast<std::ptrdiff_t>(img.channels) * 4;
  v.channel_bytes = 4;
  v.row_bytes = -static_cast<std::ptrdiff_t>(img.row_bytes);
  char* base = static_cast<char*>(img.data);
  v.data = base + static_cast<std::ptrdiff_t>(r.y2 - 1 - img.bounds.y1) * img.row_bytes +
           static_cast<std::ptrdiff_t>(r.x1 - img.bounds.x1) * v.pixel_bytes;
  v.writable = writable;
  return v;
}

bool contains(const OfxRectI& outer, const OfxRectI& in) {
  return in.x1 >= outer.x1 && in.y1 >= outer.y1 && in.x2 <= outer.x2 && in.y2 <= outer.y2;
}

// ----------------------------------------------------------------------------- actions
OfxStatus on_load() {
  gProp =
      static_cast<const OfxPropertySuiteV1*>(gHost->fetchSuite(gHost->host, kOfxPropertySuite, 1));
  gEffect = static_cast<const OfxImageEffectSuiteV1*>(
      gHost->fetchSuite(gHost->host, kOfxImageEffectSuite, 1));
  gParam = static_cast<const OfxParameterSuiteV1*>(
      gHost->fetchSuite(gHost->host, kOfxParameterSuite, 1));
  gMsg2 =
      static_cast<const OfxMessageSuiteV2*>(gHost->fetchSuite(gHost->host, kOfxMessageSuite, 2));
  gMsg1 =
      static_cast<const OfxMessageSuiteV1*>(gHost->fetchSuite(gHost->host, kOfxMessageSuite, 1));
  gProgress =
      static_cast<const OfxProgressSuiteV1*>(gHost->fetchSuite(gHost->host, kOfxProgressSuite, 1));
  // Without these suites nothing works: Failed is load's way to say "do not load me" (ofxCore.h;
  // load may not return ErrMissingHostFeature).
  if (!gProp || !gEffect || !gParam) return kOfxStatFailed;
  int temporal = 0;
  gHostTemporalAccess = gProp->propGetInt(gHost->host, kOfxImageEffectPropTemporalClipAccess, 0,
                                          &temporal) == kOfxStatOK &&
                        temporal != 0;
  return kOfxStatOK;
}

OfxStatus on_describe(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  gEffect->getPropertySet(effect, &props);
  gProp->propSetString(props, kOfxPropLabel, 0, "FaceSwap");
  gProp->propSetString(props, kOfxImageEffectPluginPropGrouping, 0, "Doppel");
  gProp->propSetString(props, kOfxPropPluginDescription, 0,
                       "Doppel face replacement: detection-free render from a tracked shot, "
                       "ONNX swap model, masks, colour transfer and blend in scene-linear light.");
  gProp->propSetString(props, kOfxImageEffectPropSupportedContexts, 0,
                       kOfxImageEffectContextFilter);
  gProp->propSetString(props, kOfxImageEffectPropSupportedContexts, 1,
                       kOfxImageEffectContextGeneral);
  gProp->propSetString(props, kOfxImageEffectPropSupportedPixelDepths, 0, kOfxBitDepthFloat);
  // One FaceSwapper per instance serves every render thread (engine/swap/pipeline.py: thread-safe).
  gProp->propSetString(props, kOfxImageEffectPluginRenderThreadSafety, 0,
                       kOfxImageEffectRenderFullySafe);
  gProp->propSetInt(props, kOfxImageEffectPluginPropHostFrameThreading, 0, 0);
  gProp->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, 1);
  gProp->propSetInt(props, kOfxImageEffectPropSupportsMultiResolution, 0, 1);
  gProp->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, 1);  // Analyze
  gProp->propSetInt(props, kOfxImageEffectPluginPropSingleInstance, 0, 0);
  gProp->propSetInt(props, kOfxImageEffectPropSupportsMultipleClipDepths, 0, 0);
  return kOfxStatOK;
}

void define_clip(OfxImageEffectHandle effect, const char* name, bool optional, bool mask) {
  OfxPropertySetHandle props = nullptr;
  gEffect->clipDefine(effect, name, &props);
  int i = 0;
  if (mask)
    gProp->propSetString(props, kOfxImageEffectPropSupportedComponents, i++,
                         kOfxImageComponentAlpha);
  gProp->propSetString(props, kOfxImageEffectPropSupportedComponents, i++, kOfxImageComponentRGBA);
  if (!mask)  // a mask is its alpha: RGB has none
    gProp->propSetString(props, kOfxImageEffectPropSupportedComponents, i++, kOfxImageComponentRGB);
  gProp->propSetInt(props, kOfxImageEffectPropSupportsTiles, 0, 1);
  if (std::strcmp(name, kOfxImageEffectSimpleSourceClipName) == 0)
    gProp->propSetInt(props, kOfxImageEffectPropTemporalClipAccess, 0, 1);
  if (optional) gProp->propSetInt(props, kOfxImageClipPropOptional, 0, 1);
  if (mask) gProp->propSetInt(props, kOfxImageClipPropIsMask, 0, 1);
}

OfxStatus on_describe_in_context(OfxImageEffectHandle effect) {
  define_clip(effect, kOfxImageEffectSimpleSourceClipName, false, false);
  define_clip(effect, kMaskClip, true, true);
  define_clip(effect, kOfxImageEffectOutputClipName, false, false);

  OfxParamSetHandle params = nullptr;
  gEffect->getParamSet(effect, &params);
  for (int g = 0; g < P::kNumGroups; ++g) {
    OfxPropertySetHandle props = nullptr;
    const std::string name = std::string("group_") + P::kGroups[g];
    gParam->paramDefine(params, kOfxParamTypeGroup, name.c_str(), &props);
    gProp->propSetString(props, kOfxPropLabel, 0, P::kGroups[g]);
    gProp->propSetInt(props, kOfxParamPropGroupOpen, 0, g < 2 ? 1 : 0);
  }
  for (int i = 0; i < P::kNumParams; ++i) {
    const P::Param& p = P::kParams[i];
    const char* type = nullptr;
    switch (p.kind) {
      case P::kString:
      case P::kFile:
        type = kOfxParamTypeString;
        break;
      case P::kChoice:
        type = kOfxParamTypeChoice;
        break;
      case P::kDouble:
        type = kOfxParamTypeDouble;
        break;
      case P::kInt:
        type = kOfxParamTypeInteger;
        break;
      case P::kBool:
        type = kOfxParamTypeBoolean;
        break;
      case P::kButton:
        type = kOfxParamTypePushButton;
        break;
    }
    OfxPropertySetHandle props = nullptr;
    if (gParam->paramDefine(params, type, p.name, &props) != kOfxStatOK || !props)
      return kOfxStatFailed;
    gProp->propSetString(props, kOfxPropLabel, 0, p.label);
    gProp->propSetString(props, kOfxParamPropHint, 0, p.hint);
    gProp->propSetString(props, kOfxParamPropScriptName, 0, p.name);
    gProp->propSetString(props, kOfxParamPropParent, 0, (std::string("group_") + p.group).c_str());
    if (p.kind == P::kButton) continue;
    gProp->propSetInt(props, kOfxParamPropAnimates, 0, p.animates ? 1 : 0);
    switch (p.kind) {
      case P::kFile:
        gProp->propSetString(props, kOfxParamPropStringMode, 0, kOfxParamStringIsFilePath);
        gProp->propSetInt(props, kOfxParamPropStringFilePathExists, 0, 0);
        gProp->propSetString(props, kOfxParamPropDefault, 0, p.sdefault);
        break;
      case P::kString:
        gProp->propSetString(props, kOfxParamPropStringMode, 0, kOfxParamStringIsSingleLine);
        gProp->propSetString(props, kOfxParamPropDefault, 0, p.sdefault);
        break;
      case P::kChoice:
        for (int c = 0; c < p.nchoices; ++c)
          gProp->propSetString(props, kOfxParamPropChoiceOption, c,
                               p.choices[c][0] ? p.choices[c] : "(model)");
        gProp->propSetInt(props, kOfxParamPropDefault, 0, static_cast<int>(p.ddefault));
        break;
      case P::kDouble:
        gProp->propSetString(props, kOfxParamPropDoubleType, 0, kOfxParamDoubleTypePlain);
        gProp->propSetDouble(props, kOfxParamPropDefault, 0, p.ddefault);
        if (p.ranged) {
          gProp->propSetDouble(props, kOfxParamPropMin, 0, p.min);
          gProp->propSetDouble(props, kOfxParamPropMax, 0, p.max);
          gProp->propSetDouble(props, kOfxParamPropDisplayMin, 0, p.dmin);
          gProp->propSetDouble(props, kOfxParamPropDisplayMax, 0, p.dmax);
        }
        break;
      case P::kInt:
        gProp->propSetInt(props, kOfxParamPropDefault, 0, static_cast<int>(p.ddefault));
        if (p.ranged) {
          gProp->propSetInt(props, kOfxParamPropMin, 0, static_cast<int>(p.min));
          gProp->propSetInt(props, kOfxParamPropMax, 0, static_cast<int>(p.max));
          gProp->propSetInt(props, kOfxParamPropDisplayMin, 0, static_cast<int>(p.dmin));
          gProp->propSetInt(props, kOfxParamPropDisplayMax, 0, static_cast<int>(p.dmax));
        }
        break;
      case P::kBool:
        gProp->propSetInt(props, kOfxParamPropDefault, 0, static_cast<int>(p.ddefault));
        break;
      case P::kButton:
        break;
    }
    if (p.node_only) {
      // Track and farm bookkeeping never change pixels by themselves (the track is read from
      // the file named here; its digest is checked at render).
      gProp->propSetInt(props, kOfxParamPropEvaluateOnChange, 0,
                        std::strcmp(p.name, "track_file") == 0 ? 1 : 0);
    }
    if (std::strcmp(p.name, "track_digest") == 0)
      gProp->propSetInt(props, kOfxParamPropEnabled, 0, 0);  // written by Analyze only
  }
  return kOfxStatOK;
}

OfxStatus on_create_instance(OfxImageEffectHandle effect) {
  auto in = std::make_unique<Instance>();
  in->effect = effect;
  gEffect->clipGetHandle(effect, kOfxImageEffectSimpleSourceClipName, &in->source, nullptr);
  gEffect->clipGetHandle(effect, kMaskClip, &in->mask, nullptr);
  gEffect->clipGetHandle(effect, kOfxImageEffectOutputClipName, &in->output, nullptr);
  gEffect->getParamSet(effect, &in->params);
  for (int i = 0; i < P::kNumParams; ++i) {
    OfxParamHandle h = nullptr;
    if (gParam->paramGetHandle(in->params, P::kParams[i].name, &h, nullptr) != kOfxStatOK)
      return kOfxStatFailed;
    in->handles[P::kParams[i].name] = h;
  }
  OfxPropertySetHandle props = nullptr;
  gEffect->getPropertySet(effect, &props);
  gProp->propSetPointer(props, kOfxPropInstanceData, 0, in.release());
  return kOfxStatOK;  // no Python here: it starts on the first render
}

OfxStatus on_destroy_instance(OfxImageEffectHandle effect) {
  OfxPropertySetHandle props = nullptr;
  gEffect->getPropertySet(effect, &props);
  void* p = nullptr;
  gProp->propGetPointer(props, kOfxPropInstanceData, 0, &p);
  delete static_cast<Instance*>(p);
  gProp->propSetPointer(props, kOfxPropInstanceData, 0, nullptr);
  return kOfxStatOK;
}

bool mask_connected(Instance* in) {
  OfxPropertySetHandle props = nullptr;
  gEffect->clipGetPropertySet(in->mask, &props);
  return get_int(props, kOfxImageClipPropConnected) != 0;
}

// isIdentity and regions of interest come before every render: a problem there (a bad track, a
// refused frame) is left for render to report, where the host shows it; only an allocation
// failure is theirs (ErrMemory: the host may purge and call again).
bool memory_failure(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    return true;
  } catch (const doppel::bridge::Error& err) {
    return err.kind == ErrorKind::kMemory;
  } catch (...) {
    return false;
  }
}

OfxStatus on_is_identity(Instance* in, OfxPropertySetHandle inArgs, OfxPropertySetHandle outArgs) {
  const OfxTime t = get_double(inArgs, kOfxPropTime);
  try {
    if (!node_of(in).is_identity(t, read_values(in, t))) return kOfxStatReplyDefault;
  } catch (...) {
    if (memory_failure(std::current_exception())) throw;
    return kOfxStatReplyDefault;  // render reports the problem
  }
  gProp->propSetString(outArgs, kOfxPropName, 0, kOfxImageEffectSimpleSourceClipName);
  gProp->propSetDouble(outArgs, kOfxPropTime, 0, t);
  return kOfxStatOK;
}

OfxStatus on_regions_of_interest(Instance* in, OfxPropertySetHandle inArgs,
                                 OfxPropertySetHandle outArgs) {
  const OfxTime t = get_double(inArgs, kOfxPropTime);
  OfxRectD region{};
  gProp->propGetDoubleN(inArgs, kOfxImageEffectPropRegionOfInterest, 4, &region.x1);
  std::optional<doppel::bridge::Box> box;
  Frame f;
  try {
    f = frame_geometry(in, render_scale(inArgs));
    box = node_of(in).roi(t, read_values(in, t), f.display);
  } catch (...) {
    if (memory_failure(std::current_exception())) throw;
    return kOfxStatReplyDefault;  // render reports the problem
  }
  if (!box) return kOfxStatReplyDefault;
  const OfxRectD face = to_canonical(f, *box);
  const OfxRectD roi{std::min(region.x1, face.x1), std::min(region.y1, face.y1),
                     std::max(region.x2, face.x2), std::max(region.y2, face.y2)};
  gProp->propSetDoubleN(outArgs, "OfxImageClipPropRoI_Source", 4, &roi.x1);
  gProp->propSetDoubleN(outArgs, "OfxImageClipPropRoI_Mask", 4, &roi.x1);
  return kOfxStatOK;
}

// DOPPEL_NODE_STATS=1: a log message per render with the action's time and the engine's share
// of it (benchmarks/node.py measures the node's overhead from these, in one process).
const bool kStats = [] {
  const char* v = std::getenv("DOPPEL_NODE_STATS");
  return v && *v && std::strcmp(v, "0") != 0;
}();

OfxStatus on_render(Instance* in, OfxPropertySetHandle inArgs) {
  const auto t_start = std::chrono::steady_clock::now();
  const OfxTime t = get_double(inArgs, kOfxPropTime);
  OfxRectI window{};
  gProp->propGetIntN(inArgs, kOfxImageEffectPropRenderWindow, 4, &window.x1);
  const OfxPointD scale = render_scale(inArgs);  // any the host asks (proxy renders)
  Image out, src;
  if (!fetch(in->output, t, nullptr, out, "Output", false))
    fail(ErrorKind::kMedia, "the host gave no output image");
  if (!contains(out.bounds, window))
    fail(ErrorKind::kMedia,
         "render window lies outside the output image; the host asked for pixels it did not "
         "allocate");
  const Frame f = frame_geometry(in, scale);
  const Values values = read_values(in, t);
  const ImageView out_view = view_of(out, window, true);
  const auto out_box = to_display(f, window);
  if (!fetch(in->source, t, nullptr, src, "Source", false) || src.width() <= 0 ||
      src.height() <= 0) {
    // An aborted render (or the host out of memory while fetching) is not a black frame.
    if (gEffect->abort(in->effect)) return kOfxStatFailed;
    // No source pixels at this time (outside the input's range): transparent black.
    for (int y = 0; y < out_view.height; ++y)
      std::memset(static_cast<char*>(out_view.data) + y * out_view.row_bytes, 0,
                  static_cast<size_t>(out_view.width) * out_view.pixel_bytes);
    return kOfxStatOK;
  }
  if (src.channels != out.channels)
    fail(ErrorKind::kMedia, "Source is " + src.components + " but Output " + out.components +
                                "; give both the same components (RGBA or RGB)");
  const ImageView src_view = view_of(src, src.bounds, false);
  const auto src_box = to_display(f, src.bounds);

  // The holdout matte, aligned with the source image (zero where the mask image has no pixels).
  std::vector<float> hold;
  ImageView hold_view;
  bool have_hold = false;
  if (in->mask && mask_connected(in)) {
    // A roto's region of definition is its shapes' box: any is fine (no pixels = no holdout).
    // Its format must be the plate's, else the matte would sit elsewhere on the frame.
    OfxRectI src_fmt{}, mask_fmt{};
    if (clip_format(in->source, &src_fmt) && clip_format(in->mask, &mask_fmt) &&
        (src_fmt.x1 != mask_fmt.x1 || src_fmt.y1 != mask_fmt.y1 || src_fmt.x2 != mask_fmt.x2 ||
         src_fmt.y2 != mask_fmt.y2)) {
      char msg[320];
      std::snprintf(msg, sizeof msg,
                    "Mask input is %dx%d but Source %dx%d; reformat the mask to the plate",
                    mask_fmt.x2 - mask_fmt.x1, mask_fmt.y2 - mask_fmt.y1, src_fmt.x2 - src_fmt.x1,
                    src_fmt.y2 - src_fmt.y1);
      fail(ErrorKind::kInput, msg);
    }
    Image mimg;
    // No region: the host gives at least the mask's region of interest we returned.
    if (fetch(in->mask, t, nullptr, mimg, "Mask", true)) {
      const int w = src.width(), h = src.height();
      hold.assign(static_cast<size_t>(w) * h, 0.0f);
      const int a = mimg.channels - 1;  // alpha: RGBA's last channel, or the only one
      for (int y = std::max(src.bounds.y1, mimg.bounds.y1);
           y < std::min(src.bounds.y2, mimg.bounds.y2); ++y) {
        const float* row = reinterpret_cast<const float*>(
            static_cast<const char*>(mimg.data) +
            static_cast<std::ptrdiff_t>(y - mimg.bounds.y1) * mimg.row_bytes);
        float* dst = hold.data() + static_cast<size_t>(src.bounds.y2 - 1 - y) * w;
        for (int x = std::max(src.bounds.x1, mimg.bounds.x1);
             x < std::min(src.bounds.x2, mimg.bounds.x2); ++x)
          dst[x - src.bounds.x1] = row[(x - mimg.bounds.x1) * mimg.channels + a];
      }
      hold_view.data = hold.data();
      hold_view.width = w;
      hold_view.height = h;
      hold_view.channels = 1;
      hold_view.row_bytes = static_cast<std::ptrdiff_t>(w) * 4;
      hold_view.pixel_bytes = 4;
      hold_view.channel_bytes = 4;
      have_hold = true;
    }
  }
  const auto t_engine = std::chrono::steady_clock::now();
  const auto info =
      node_of(in).render(t, values, src_view, src_box.x0, src_box.y0, out_view, out_box.x0,
                         out_box.y0, f.display, have_hold ? &hold_view : nullptr);
  long seen = in->loads_seen.load();
  while (info.loads > seen && !in->loads_seen.compare_exchange_weak(seen, info.loads)) {
  }
  if (info.loads > seen)
    post(in, kOfxMessageLog, "model loaded (load " + std::to_string(info.loads) + " of this node)",
         false);
  clear_persistent(in);
  if (kStats) {
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start)
            .count();
    const double fetch_ms = std::chrono::duration<double, std::milli>(t_engine - t_start).count();
    char line[200];
    std::snprintf(line, sizeof line,
                  "stats: frame=%g render_ms=%.3f "
                  "process_ms=%.3f fetch_ms=%.3f",
                  t, ms, info.process_ms, fetch_ms);
    post(in, kOfxMessageLog, line, false);
  }
  return kOfxStatOK;
}

void frame_range(Instance* in, int* first, int* last) {
  OfxPropertySetHandle props = nullptr;
  gEffect->clipGetPropertySet(in->source, &props);
  double r[2] = {0, 0};
  if (gProp->propGetDoubleN(props, kOfxImageEffectPropFrameRange, 2, r) != kOfxStatOK) {
    OfxPropertySetHandle eprops = nullptr;
    gEffect->getPropertySet(in->effect, &eprops);
    gProp->propGetDoubleN(eprops, kOfxImageEffectPropFrameRange, 2, r);
  }
  *first = static_cast<int>(std::lround(r[0]));
  *last = static_cast<int>(std::lround(r[1]));
}

void on_analyze(Instance* in, OfxTime t, OfxPointD scale) {
  // A host without temporal clip access is missing a feature, but instanceChanged may only
  // return Failed (ofxCore.h): the message says what to do instead.
  if (!gHostTemporalAccess)
    fail(ErrorKind::kInput,
         "Analyze: this host does not let plugins read other frames (temporal clip access); "
         "track with 'doppel analyze' and point Track file at its output");
  OfxPropertySetHandle sprops = nullptr;
  gEffect->clipGetPropertySet(in->source, &sprops);
  if (!get_int(sprops, kOfxImageClipPropConnected))
    fail(ErrorKind::kInput, "Analyze: connect a plate to Source first");
  // The track is made at full resolution (the farm renders from it): a proxy would track on
  // scaled-down frames, so Analyze asks for the full-resolution images.
  if (std::fabs(scale.x - 1.0) > 1e-9 || std::fabs(scale.y - 1.0) > 1e-9)
    fail(ErrorKind::kInput, "Analyze at proxy scale " + num(scale.x) +
                                ": switch the viewer to full resolution and press Analyze again "
                                "(the track is made on full-size frames; renders at any scale "
                                "use it)");
  int first = 0, last = 0;
  frame_range(in, &first, &last);
  if (last < first)
    fail(ErrorKind::kInput, "Analyze: the Source clip has no frames; connect a plate");
  std::vector<int> frames;
  for (int fr = first; fr <= last; ++fr) frames.push_back(fr);
  const Frame f = frame_geometry(in, {1, 1});
  auto& node = node_of(in);
  auto fetch_frame = [&](int fr) {
    Image img;
    OfxRectD rod{};  // the whole frame (a null region would mean the last region of interest)
    gEffect->clipGetRegionOfDefinition(in->source, fr, &rod);
    if (!fetch(in->source, fr, &rod, img, "Source", false))
      throw doppel::bridge::Error("the host gave no image");
    doppel::bridge::HostFrame hf;
    hf.width = img.width();
    hf.height = img.height();
    hf.channels = img.channels;
    const auto box = to_display(f, img.bounds);
    hf.x = box.x0;
    hf.y = box.y0;
    hf.pixels.resize(static_cast<size_t>(hf.width) * hf.height * hf.channels);
    const size_t row = static_cast<size_t>(hf.width) * hf.channels;
    for (int y = 0; y < hf.height; ++y) {  // top-down copy of a y-up buffer
      const char* s = static_cast<const char*>(img.data) +
                      static_cast<std::ptrdiff_t>(hf.height - 1 - y) * img.row_bytes;
      std::memcpy(hf.pixels.data() + y * row, s, row * sizeof(float));
    }
    return hf;
  };
  bool progress_on =
      gProgress && gProgress->progressStart(in->effect, "Doppel FaceSwap: Analyze") == kOfxStatOK;
  auto progress = [&](int done, int total) {  // cancel: the progress bar's, not abort() (render's)
    if (!progress_on) return true;
    return gProgress->progressUpdate(in->effect, total ? double(done) / total : 1.0) !=
           kOfxStatReplyNo;
  };
  try {
    const auto res = node.analyze(read_values(in, t), frames, fetch_frame, f.display, progress);
    if (progress_on) gProgress->progressEnd(in->effect);
    gParam->paramSetValue(in->handles.at("track_digest"), res.digest.c_str());
    std::string note = "Analyze tracked the face on " + std::to_string(res.tracked) + " of " +
                       std::to_string(res.frames) + " frames";
    if (!res.errors.empty())
      note += " (" + std::to_string(res.errors.size()) + " unreadable: " + res.errors.front() + ")";
    if (!res.health.empty()) note += "; suspect frames: " + res.health + " (press Edit Track...)";
    post(in, kOfxMessageLog, note, false);
    clear_persistent(in);
    if (!res.fit.empty()) {  // issue 21: does the model know this plate's face?
      const bool warn = res.fit.find("warning") != std::string::npos;
      post(in, warn ? kOfxMessageWarning : kOfxMessageLog, "Doppel FaceSwap: " + res.fit, false);
    }
    if (!res.mouth_shape.empty()) {  // a plate mouth shape the model's source never shows
      const bool warn = res.mouth_shape.find("warning") != std::string::npos;
      post(in, warn ? kOfxMessageWarning : kOfxMessageLog, "Doppel FaceSwap: " + res.mouth_shape,
           false);
    }
  } catch (const doppel::bridge::Cancelled& e) {
    if (progress_on) gProgress->progressEnd(in->effect);
    post(in, kOfxMessageWarning, std::string(e.what()), false);
  } catch (...) {
    if (progress_on) gProgress->progressEnd(in->effect);
    throw;
  }
}

OfxStatus on_instance_changed(Instance* in, OfxPropertySetHandle inArgs) {
  if (get_string(inArgs, kOfxPropType) != kOfxTypeParameter) return kOfxStatReplyDefault;
  const std::string name = get_string(inArgs, kOfxPropName);
  const OfxTime t = get_double(inArgs, kOfxPropTime);
  // Images may be fetched in instanceChanged only for a user edit (the specification).
  const bool user = get_string(inArgs, kOfxPropChangeReason) == kOfxChangeUserEdited;
  if (name == "analyze" && user) {
    on_analyze(in, t, render_scale(inArgs));
    return kOfxStatOK;
  }
  if (name == "edit_track" && user) {
    const std::string cmd = node_of(in).edit_track(read_values(in, t));
    post(in, kOfxMessageLog, "Doppel FaceSwap: track editor started (" + cmd + ")", false);
    return kOfxStatOK;
  }
  if (name == "send_to_farm" && user) {
    int first = 0, last = 0;
    frame_range(in, &first, &last);
    const std::string folder = node_of(in).send_to_farm(read_values(in, t), first, last);
    post(in, kOfxMessageMessage,
         "farm job written to " + folder +
             " (submit with 'deadline bundle submit' or any OpenJD "
             "runner)",
         false);
    return kOfxStatOK;
  }
  return kOfxStatReplyDefault;
}

OfxStatus dispatch(const std::string& a, OfxImageEffectHandle effect, OfxPropertySetHandle inArgs,
                   OfxPropertySetHandle outArgs, Instance*& in) {
  if (a == kOfxActionLoad) return on_load();
  if (a == kOfxActionUnload) return kOfxStatOK;  // Python is never finalised
  if (a == kOfxActionDescribe) return on_describe(effect);
  if (a == kOfxImageEffectActionDescribeInContext) return on_describe_in_context(effect);
  if (a == kOfxActionCreateInstance) return on_create_instance(effect);
  if (a == kOfxActionDestroyInstance) return on_destroy_instance(effect);
  if (a == kOfxImageEffectActionIsIdentity) {
    in = instance_of(effect);
    return on_is_identity(in, inArgs, outArgs);
  }
  if (a == kOfxImageEffectActionGetRegionsOfInterest) {
    in = instance_of(effect);
    return on_regions_of_interest(in, inArgs, outArgs);
  }
  if (a == kOfxImageEffectActionRender) {
    in = instance_of(effect);
    return on_render(in, inArgs);
  }
  if (a == kOfxActionInstanceChanged) {
    in = instance_of(effect);
    return on_instance_changed(in, inArgs);
  }
  return kOfxStatReplyDefault;
}

// Every action runs here: no exception crosses into the host, every failure has a message and a
// status the specification lists for the action (status_for, conform).
OfxStatus main_entry(const char* action, const void* handle, OfxPropertySetHandle inArgs,
                     OfxPropertySetHandle outArgs) {
  auto effect = static_cast<OfxImageEffectHandle>(const_cast<void*>(handle));
  Instance* in = nullptr;
  const std::string a = action ? action : "";
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  try {
    return conform(a, dispatch(a, effect, inArgs, outArgs, in));
  } catch (const doppel::bridge::Error& e) {
    kind = e.kind;
    message = e.what();
  } catch (const std::bad_alloc&) {
    kind = ErrorKind::kMemory;
    message =
        "out of memory (an allocation of the plugin failed); free memory or lower the "
        "resolution, then render again";
  } catch (const std::exception& e) {
    message = std::string("internal error (") + e.what() + ")";
  } catch (...) {
    message = "internal error (an unknown exception)";
  }
  if (in) post(in, kOfxMessageError, message, true);
  return status_for(a, kind);
}

void set_host(OfxHost* host) { gHost = host; }

OfxPlugin gPlugin = {kOfxImageEffectPluginApi, 1, kPluginId, 1, 0, set_host, main_entry};

}  // namespace

extern "C" {
__attribute__((visibility("default"))) int OfxGetNumberOfPlugins(void) { return 1; }
__attribute__((visibility("default"))) OfxPlugin* OfxGetPlugin(int nth) {
  return nth == 0 ? &gPlugin : nullptr;
}
}
