// SPDX-License-Identifier: Apache-2.0
// A small OpenFX host for testing the FaceSwap plugin the way a compositing host drives it:
// dlopen the bundle (RTLD_LOCAL, as hosts do), describe, create an instance, set parameters,
// press buttons (instanceChanged), and render frames on several threads through isIdentity,
// getRegionsOfInterest and render, handing the plugin y-up images (bottom-up, or top-down with
// negative row bytes) cropped to what it asked for. Frames come in and go out as float32 .npy
// files (top-down H×W×C); tests/host_plugin converts the sample EXR plates and compares.
//
// Usage: ofx_test_host --bundle DIR [--describe] [--source frames.txt] [--mask frames.txt]
//   [--frames A-B] [--threads N] [--set name=value]... [--phase "n=v;n=v"]... [--press NAME]...
//   [--out DIR] [--tile-rows K] [--top-down] [--crop-to-roi] [--cancel-after N]
//   [--load-params FILE] [--save-params FILE] [--start-python LIBPYTHON]
//   [--render-scale S]  (a proxy render, S = 1/k: clips give images box-filtered k×k, windows,
//                        bounds and outputs are in pixels at that scale, as a host's proxy)
//   [--preload] (source frames held in memory, as a host's cache)
//   [--clip-format] (clips carry kOfxImageClipPropFormat, as in Natron) [--project WxH]
//   [--label-depth OfxBitDepthHalf] [--window-pad N]   (bad input: mislabelled images, windows
//   larger than the output image)
//   [--shared-string-buffer]  (string parameters returned from one buffer the host rewrites on
//                              every get, as OpenFX's reference host does per parameter)
//   [--log-actions]  (an "action name=... status=..." line for every call into the plugin)
//   [--print-roi]    (a "roi frame=... x1= y1= x2= y2=" line per regions-of-interest answer)
//   [--fail-alloc BYTES]  (in phase 1 and in presses: operator new of BYTES or more throws
//                          std::bad_alloc while the plugin runs, outside host callbacks)
//   [--maps]  (the shared objects the process loaded after the plugin, from /proc/self/maps)
//   [--hide-suite NAME]  (fetchSuite answers NULL for it: a host without that suite)
//   [--render-scale-y S]  (a different y render scale in the actions' arguments: bad input)
// frames.txt: "display W H", optional "par P", then "frame N x y w h path" per frame (EXR data
// window: x, y from the display window's top-left, y down).
// Prints key=value lines; exit 0 when every render and press succeeded, 1 otherwise, 2 on
// bad usage or a plugin that does not load.
#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ofx/ofx_api.h"

namespace {

// ------------------------------------------------------------------------------ properties
struct Prop {
  char type = 0;  // 's' 'd' 'i' 'p'
  std::vector<std::string> s;
  std::vector<double> d;
  std::vector<int> i;
  std::vector<void*> p;
};

struct PropSet {
  std::map<std::string, Prop> props;
  std::mutex m;
  PropSet() = default;
  PropSet(const PropSet& o) : props(o.props) {}
  PropSet& operator=(const PropSet& o) {
    props = o.props;
    return *this;
  }
};

PropSet* ps(OfxPropertySetHandle h) { return reinterpret_cast<PropSet*>(h); }
OfxPropertySetHandle handle(PropSet* p) { return reinterpret_cast<OfxPropertySetHandle>(p); }

template <class T>
std::vector<T>& slot(Prop& p);
template <>
std::vector<std::string>& slot(Prop& p) {
  return p.s;
}
template <>
std::vector<double>& slot(Prop& p) {
  return p.d;
}
template <>
std::vector<int>& slot(Prop& p) {
  return p.i;
}
template <>
std::vector<void*>& slot(Prop& p) {
  return p.p;
}

template <class T>
OfxStatus set_one(OfxPropertySetHandle h, const char* name, int index, T v, char type) {
  if (!h || index < 0) return kOfxStatErrBadHandle;
  std::lock_guard<std::mutex> l(ps(h)->m);
  Prop& p = ps(h)->props[name];
  p.type = type;
  auto& vec = slot<T>(p);
  if (static_cast<int>(vec.size()) <= index) vec.resize(index + 1);
  vec[index] = v;
  return kOfxStatOK;
}

template <class T, class Out>
OfxStatus get_one(OfxPropertySetHandle h, const char* name, int index, Out* v) {
  if (!h) return kOfxStatErrBadHandle;
  std::lock_guard<std::mutex> l(ps(h)->m);
  auto it = ps(h)->props.find(name);
  if (it == ps(h)->props.end()) return kOfxStatErrUnknown;
  auto& vec = slot<T>(it->second);
  if (index < 0 || index >= static_cast<int>(vec.size())) return kOfxStatErrBadIndex;
  if constexpr (std::is_same_v<T, std::string>)
    *v = const_cast<char*>(vec[index].c_str());
  else
    *v = vec[index];
  return kOfxStatOK;
}

OfxStatus propSetPointer(OfxPropertySetHandle h, const char* n, int i, void* v) {
  return set_one<void*>(h, n, i, v, 'p');
}
OfxStatus propSetString(OfxPropertySetHandle h, const char* n, int i, const char* v) {
  return set_one<std::string>(h, n, i, std::string(v ? v : ""), 's');
}
OfxStatus propSetDouble(OfxPropertySetHandle h, const char* n, int i, double v) {
  return set_one<double>(h, n, i, v, 'd');
}
OfxStatus propSetInt(OfxPropertySetHandle h, const char* n, int i, int v) {
  return set_one<int>(h, n, i, v, 'i');
}
OfxStatus propSetPointerN(OfxPropertySetHandle h, const char* n, int c, void* const* v) {
  for (int k = 0; k < c; ++k) propSetPointer(h, n, k, v[k]);
  return kOfxStatOK;
}
OfxStatus propSetStringN(OfxPropertySetHandle h, const char* n, int c, const char* const* v) {
  for (int k = 0; k < c; ++k) propSetString(h, n, k, v[k]);
  return kOfxStatOK;
}
OfxStatus propSetDoubleN(OfxPropertySetHandle h, const char* n, int c, const double* v) {
  for (int k = 0; k < c; ++k) propSetDouble(h, n, k, v[k]);
  return kOfxStatOK;
}
OfxStatus propSetIntN(OfxPropertySetHandle h, const char* n, int c, const int* v) {
  for (int k = 0; k < c; ++k) propSetInt(h, n, k, v[k]);
  return kOfxStatOK;
}
OfxStatus propGetPointer(OfxPropertySetHandle h, const char* n, int i, void** v) {
  return get_one<void*>(h, n, i, v);
}
OfxStatus propGetString(OfxPropertySetHandle h, const char* n, int i, char** v) {
  return get_one<std::string>(h, n, i, v);
}
OfxStatus propGetDouble(OfxPropertySetHandle h, const char* n, int i, double* v) {
  return get_one<double>(h, n, i, v);
}
OfxStatus propGetInt(OfxPropertySetHandle h, const char* n, int i, int* v) {
  return get_one<int>(h, n, i, v);
}
OfxStatus propGetPointerN(OfxPropertySetHandle h, const char* n, int c, void** v) {
  for (int k = 0; k < c; ++k)
    if (OfxStatus s = propGetPointer(h, n, k, &v[k])) return s;
  return kOfxStatOK;
}
OfxStatus propGetStringN(OfxPropertySetHandle h, const char* n, int c, char** v) {
  for (int k = 0; k < c; ++k)
    if (OfxStatus s = propGetString(h, n, k, &v[k])) return s;
  return kOfxStatOK;
}
OfxStatus propGetDoubleN(OfxPropertySetHandle h, const char* n, int c, double* v) {
  for (int k = 0; k < c; ++k)
    if (OfxStatus s = propGetDouble(h, n, k, &v[k])) return s;
  return kOfxStatOK;
}
OfxStatus propGetIntN(OfxPropertySetHandle h, const char* n, int c, int* v) {
  for (int k = 0; k < c; ++k)
    if (OfxStatus s = propGetInt(h, n, k, &v[k])) return s;
  return kOfxStatOK;
}
OfxStatus propReset(OfxPropertySetHandle h, const char* n) {
  std::lock_guard<std::mutex> l(ps(h)->m);
  ps(h)->props.erase(n);
  return kOfxStatOK;
}
OfxStatus propGetDimension(OfxPropertySetHandle h, const char* n, int* count) {
  std::lock_guard<std::mutex> l(ps(h)->m);
  auto it = ps(h)->props.find(n);
  if (it == ps(h)->props.end()) return kOfxStatErrUnknown;
  const Prop& p = it->second;
  *count = static_cast<int>(p.type == 's'   ? p.s.size()
                            : p.type == 'd' ? p.d.size()
                            : p.type == 'i' ? p.i.size()
                                            : p.p.size());
  return kOfxStatOK;
}

const OfxPropertySuiteV1 kPropSuite = {
    propSetPointer, propSetString,  propSetDouble,   propSetInt,     propSetPointerN,
    propSetStringN, propSetDoubleN, propSetIntN,     propGetPointer, propGetString,
    propGetDouble,  propGetInt,     propGetPointerN, propGetStringN, propGetDoubleN,
    propGetIntN,    propReset,      propGetDimension};

std::string sprop(PropSet& p, const char* n, int i = 0) {
  char* v = nullptr;
  return propGetString(handle(&p), n, i, &v) == kOfxStatOK ? v : "";
}
double dprop(PropSet& p, const char* n, int i = 0, double d = 0) {
  double v = d;
  propGetDouble(handle(&p), n, i, &v);
  return v;
}
int iprop(PropSet& p, const char* n, int i = 0, int d = 0) {
  int v = d;
  propGetInt(handle(&p), n, i, &v);
  return v;
}
int dim(PropSet& p, const char* n) {
  int c = 0;
  propGetDimension(handle(&p), n, &c);
  return c;
}

// ------------------------------------------------------------------------------ media
struct Array {  // top-down H×W×C float32
  int h = 0, w = 0, c = 0;
  std::vector<float> px;
};

bool read_npy(const std::string& path, Array& a, std::string* err) {
  std::ifstream in(path, std::ios::binary);
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    *err = path + ": not a .npy file";
    return false;
  }
  uint32_t hlen = 0;
  if (magic[6] == 1) {
    uint16_t h16 = 0;
    in.read(reinterpret_cast<char*>(&h16), 2);
    hlen = h16;
  } else {
    in.read(reinterpret_cast<char*>(&hlen), 4);
  }
  std::string header(hlen, ' ');
  in.read(header.data(), hlen);
  if (header.find("'<f4'") == std::string::npos ||
      header.find("'fortran_order': False") == std::string::npos) {
    *err = path + ": need float32 C-order";
    return false;
  }
  const auto l = header.find('(', header.find("'shape'")), r = header.find(')', l);
  std::vector<int> shape;
  std::stringstream ss(header.substr(l + 1, r - l - 1));
  std::string tok;
  while (std::getline(ss, tok, ','))
    if (tok.find_first_not_of(" ") != std::string::npos) shape.push_back(std::stoi(tok));
  if (shape.size() == 2) shape.push_back(1);
  if (shape.size() != 3) {
    *err = path + ": need H×W×C";
    return false;
  }
  a.h = shape[0];
  a.w = shape[1];
  a.c = shape[2];
  a.px.resize(static_cast<size_t>(a.h) * a.w * a.c);
  if (!in.read(reinterpret_cast<char*>(a.px.data()), a.px.size() * 4)) {
    *err = path + ": truncated";
    return false;
  }
  return true;
}

bool write_npy(const std::string& path, const Array& a) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(a.h) +
                       ", " + std::to_string(a.w) + ", " + std::to_string(a.c) + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write("\x93NUMPY\x01\x00", 8);
    const uint16_t hl = static_cast<uint16_t>(header.size());
    out.write(reinterpret_cast<const char*>(&hl), 2);
    out.write(header.data(), header.size());
    out.write(reinterpret_cast<const char*>(a.px.data()), a.px.size() * 4);
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

struct FrameFile {
  int x = 0, y = 0, w = 0, h = 0;  // data window, y down from the display window's top
  std::string path;
};
struct Media {
  int width = 0, height = 0;
  double par = 1.0;
  std::map<int, FrameFile> frames;
  bool ok() const { return width > 0 && !frames.empty(); }
  // The data window as an OFX pixel rect (y up).
  OfxRectI bounds(int f) const {
    const FrameFile& ff = frames.at(f);
    return {ff.x, height - (ff.y + ff.h), ff.x + ff.w, height - ff.y};
  }
};

// The proxy factor k of a render scale 1/k (this host renders integer reductions only).
int scale_factor(double scale) {
  if (!(scale > 0)) return 0;
  const int k = static_cast<int>(std::lround(1.0 / scale));
  return k >= 1 && std::fabs(k * scale - 1.0) < 1e-9 ? k : 0;
}
int floor_div(int a, int k) { return a >= 0 ? a / k : -((-a + k - 1) / k); }
int ceil_div(int a, int k) { return -floor_div(-a, k); }

// A frame of a clip at a render scale: top-down pixels over `bounds` (OFX pixels at that scale,
// y up). At scale 1/k each pixel is the mean of the k×k full-resolution pixels it covers that lie
// in the data window (a box filter, as a proxy made from the full frame).
struct Loaded {
  Array a;
  OfxRectI bounds{};
};

bool load_frame(const Media& m, int f, double scale, Loaded& out, std::string* err) {
  Array full;
  if (!read_npy(m.frames.at(f).path, full, err)) return false;
  const OfxRectI b = m.bounds(f);
  const int k = scale_factor(scale);
  if (k == 1) {
    out.a = std::move(full);
    out.bounds = b;
    return true;
  }
  out.bounds = {floor_div(b.x1, k), floor_div(b.y1, k), ceil_div(b.x2, k), ceil_div(b.y2, k)};
  Array& a = out.a;
  a.w = out.bounds.x2 - out.bounds.x1;
  a.h = out.bounds.y2 - out.bounds.y1;
  a.c = full.c;
  a.px.assign(static_cast<size_t>(a.w) * a.h * a.c, 0.0f);
  std::vector<double> sum(a.c);
  for (int Y = out.bounds.y1; Y < out.bounds.y2; ++Y)
    for (int X = out.bounds.x1; X < out.bounds.x2; ++X) {
      std::fill(sum.begin(), sum.end(), 0.0);
      int n = 0;
      for (int y = std::max(Y * k, b.y1); y < std::min(Y * k + k, b.y2); ++y)
        for (int x = std::max(X * k, b.x1); x < std::min(X * k + k, b.x2); ++x) {
          const float* p =
              full.px.data() + (static_cast<size_t>(b.y2 - 1 - y) * full.w + (x - b.x1)) * full.c;
          for (int c = 0; c < a.c; ++c) sum[c] += p[c];
          ++n;
        }
      float* q = a.px.data() +
                 (static_cast<size_t>(out.bounds.y2 - 1 - Y) * a.w + (X - out.bounds.x1)) * a.c;
      for (int c = 0; c < a.c; ++c) q[c] = n ? static_cast<float>(sum[c] / n) : 0.0f;
    }
  return true;
}

bool read_media(const std::string& path, Media& m) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string key;
    ss >> key;
    if (key == "display")
      ss >> m.width >> m.height;
    else if (key == "par")
      ss >> m.par;
    else if (key == "frame") {
      int n;
      FrameFile f;
      ss >> n >> f.x >> f.y >> f.w >> f.h;
      std::getline(ss, f.path);
      f.path.erase(0, f.path.find_first_not_of(' '));
      m.frames[n] = f;
    }
  }
  return m.ok();
}

// ------------------------------------------------------------------------------ host state
struct Param {
  std::string name, type;
  PropSet props;
  std::string s;
  double d = 0;
  int i = 0;
  std::mutex m;
};
struct ParamSet {
  std::map<std::string, std::unique_ptr<Param>> params;
  std::vector<std::string> order;
  PropSet props;
};
struct Clip {
  std::string name;
  PropSet props;
  const Media* media = nullptr;
};
struct Effect {
  PropSet props;
  ParamSet params;
  std::map<std::string, std::unique_ptr<Clip>> clips;
  std::vector<std::string> clip_order;
};
struct Image {
  PropSet props;
  std::vector<float> buf;
};

struct Options {
  std::string bundle, source, mask, out, load_params, save_params, start_python;
  std::vector<std::string> sets, phases, presses;
  int first = 0, last = -1, threads = 1, tile_rows = 0, cancel_after = -1;
  bool describe = false, top_down = false, crop_to_roi = false;
  std::string label_depth = kOfxBitDepthFloat;  // what images claim to be (bad-input tests)
  int window_pad = 0;        // render windows this much larger than the output image (bad input)
  bool preload = false;      // keep source frames in memory (a host's cache): no copy on fetch
  bool clip_format = false;  // set kOfxImageClipPropFormat on clips (as Natron does)
  int project_w = 0, project_h = 0;  // a project format other than the plate's (0: the plate's)
  double render_scale = 1.0;
  bool shared_string_buffer = false, log_actions = false, print_roi = false, maps = false;
  long fail_alloc = 0;  // 0: off
  std::string hide_suite;
  double render_scale_y = 0;  // 0: the same as x
};

Options g_opt;
Media g_source, g_mask;
std::atomic<long> g_images_live{0};
std::atomic<int> g_progress_updates{0};
std::mutex g_msg_mutex;
std::vector<std::pair<std::string, std::string>> g_messages;
std::map<int, Loaded> g_preloaded;  // source frames at the render scale
std::string g_string_buffer;        // --shared-string-buffer: every string get returns this

// --fail-alloc: armed while the plugin runs an action (not inside our callbacks), from phase 1 on
// and for presses; the plugin then sees std::bad_alloc from its own allocations.
std::atomic<bool> g_fail_armed{false};
thread_local int t_in_plugin = 0;  // > 0 while this thread runs the plugin's code
struct HostCallback {              // our own allocations inside callbacks never fail
  HostCallback() { --t_in_plugin; }
  ~HostCallback() { ++t_in_plugin; }
};
thread_local Image* t_output = nullptr;   // the render's output image (this thread)
thread_local OfxRectD t_roi{0, 0, 0, 0};  // the RoI the plugin asked for (this thread)
thread_local bool t_have_roi = false;
OfxPlugin* g_plugin = nullptr;

void cp(ParamSet* from, ParamSet* to) {
  for (const auto& n : from->order) {
    auto p = std::make_unique<Param>();
    p->name = n;
    p->type = from->params[n]->type;
    p->props = from->params[n]->props;
    PropSet& pr = p->props;
    if (p->type == kOfxParamTypeString)
      p->s = sprop(pr, kOfxParamPropDefault);
    else if (p->type == kOfxParamTypeDouble)
      p->d = dprop(pr, kOfxParamPropDefault);
    else if (p->type != kOfxParamTypeGroup && p->type != kOfxParamTypePushButton)
      p->i = iprop(pr, kOfxParamPropDefault);
    to->order.push_back(n);
    to->params[n] = std::move(p);
  }
}

// ------------------------------------------------------------------------------ image effect suite
// clipGetHandle and paramGetHandle: a named object's handle and, if asked, its property set.
template <class Handle, class Map>
OfxStatus find_named(Map& objects, const char* name, Handle* out, OfxPropertySetHandle* props) {
  auto it = objects.find(name);
  if (it == objects.end()) return kOfxStatErrUnknown;
  *out = reinterpret_cast<Handle>(it->second.get());
  if (props) *props = handle(&it->second->props);
  return kOfxStatOK;
}

OfxStatus getPropertySet(OfxImageEffectHandle e, OfxPropertySetHandle* h) {
  *h = handle(&reinterpret_cast<Effect*>(e)->props);
  return kOfxStatOK;
}
OfxStatus getParamSet(OfxImageEffectHandle e, OfxParamSetHandle* h) {
  *h = reinterpret_cast<OfxParamSetHandle>(&reinterpret_cast<Effect*>(e)->params);
  return kOfxStatOK;
}
// clipDefine and paramDefine: a new named object, kept in definition order.
template <class T, class Map>
OfxStatus define_named(Map& objects, std::vector<std::string>& order, const char* name,
                       std::unique_ptr<T> obj, OfxPropertySetHandle* props) {
  if (objects.count(name)) return kOfxStatErrExists;
  obj->name = name;
  propSetString(handle(&obj->props), kOfxPropName, 0, name);
  *props = handle(&obj->props);
  order.push_back(name);
  objects[name] = std::move(obj);
  return kOfxStatOK;
}

OfxStatus clipDefine(OfxImageEffectHandle e, const char* name, OfxPropertySetHandle* h) {
  auto* eff = reinterpret_cast<Effect*>(e);
  return define_named(eff->clips, eff->clip_order, name, std::make_unique<Clip>(), h);
}
OfxStatus clipGetHandle(OfxImageEffectHandle e, const char* name, OfxImageClipHandle* clip,
                        OfxPropertySetHandle* h) {
  return find_named(reinterpret_cast<Effect*>(e)->clips, name, clip, h);
}
OfxStatus clipGetPropertySet(OfxImageClipHandle c, OfxPropertySetHandle* h) {
  *h = handle(&reinterpret_cast<Clip*>(c)->props);
  return kOfxStatOK;
}

Image* new_image(const OfxRectI& b, int channels, const char* components) {
  auto* img = new Image;
  const int w = b.x2 - b.x1, h = b.y2 - b.y1;
  img->buf.assign(static_cast<size_t>(std::max(w, 0)) * std::max(h, 0) * channels, 0.0f);
  const int row = w * channels * 4;
  char* base = reinterpret_cast<char*>(img->buf.data());
  void* data = base;
  int row_bytes = row;
  if (g_opt.top_down && h > 0) {  // rows stored top first: the bottom row is last, stride < 0
    data = base + static_cast<size_t>(h - 1) * row;
    row_bytes = -row;
  }
  PropSet& p = img->props;
  propSetString(handle(&p), kOfxPropType, 0, kOfxTypeImage);
  propSetPointer(handle(&p), kOfxImagePropData, 0, data);
  propSetIntN(handle(&p), kOfxImagePropBounds, 4, &b.x1);
  propSetIntN(handle(&p), kOfxImagePropRegionOfDefinition, 4, &b.x1);
  propSetInt(handle(&p), kOfxImagePropRowBytes, 0, row_bytes);
  propSetString(handle(&p), kOfxImageEffectPropPixelDepth, 0, g_opt.label_depth.c_str());
  propSetString(handle(&p), kOfxImageEffectPropComponents, 0, components);
  propSetString(handle(&p), kOfxImageEffectPropPreMultiplication, 0, kOfxImagePreMultiplied);
  propSetDouble(handle(&p), kOfxImagePropPixelAspectRatio, 0, 1.0);
  propSetString(handle(&p), kOfxImagePropField, 0, kOfxImageFieldNone);
  propSetString(handle(&p), kOfxImagePropUniqueIdentifier, 0, "img");
  const double scale[2] = {g_opt.render_scale, g_opt.render_scale};
  propSetDoubleN(handle(&p), kOfxImageEffectPropRenderScale, 2, scale);
  ++g_images_live;
  return img;
}

float* row_ptr(Image* img, int y) {  // OFX row y (y up)
  void* data;
  int b[4], rb;
  propGetPointer(handle(&img->props), kOfxImagePropData, 0, &data);
  propGetIntN(handle(&img->props), kOfxImagePropBounds, 4, b);
  propGetInt(handle(&img->props), kOfxImagePropRowBytes, 0, &rb);
  return reinterpret_cast<float*>(static_cast<char*>(data) + static_cast<ptrdiff_t>(y - b[1]) * rb);
}

const char* components_for(int c) {
  return c == 4 ? kOfxImageComponentRGBA : c == 3 ? kOfxImageComponentRGB : kOfxImageComponentAlpha;
}

// A canonical rectangle (full-resolution units, x times the pixel aspect) in pixels at the
// render scale, rounded outwards.
OfxRectI to_pixels(const OfxRectD& r, double par) {
  const double s = g_opt.render_scale;
  return {static_cast<int>(std::floor(r.x1 * s / par)), static_cast<int>(std::floor(r.y1 * s)),
          static_cast<int>(std::ceil(r.x2 * s / par)), static_cast<int>(std::ceil(r.y2 * s))};
}

OfxStatus clipGetImage(OfxImageClipHandle c, OfxTime t, const OfxRectD* region,
                       OfxPropertySetHandle* h) {
  HostCallback guard;
  auto* clip = reinterpret_cast<Clip*>(c);
  if (clip->name == kOfxImageEffectOutputClipName) {
    if (!t_output) return kOfxStatFailed;
    *h = handle(&t_output->props);
    ++g_images_live;  // released like any other image
    return kOfxStatOK;
  }
  if (!clip->media) return kOfxStatFailed;
  const int f = static_cast<int>(std::lround(t));
  if (!clip->media->frames.count(f)) return kOfxStatFailed;
  Loaded loaded;
  std::string err;
  const Loaded* cached = nullptr;
  if (clip->media == &g_source && g_preloaded.count(f)) cached = &g_preloaded.at(f);
  if (!cached && !load_frame(*clip->media, f, g_opt.render_scale, loaded, &err)) {
    std::fprintf(stderr, "host: %s\n", err.c_str());
    return kOfxStatFailed;
  }
  const Loaded& l = cached ? *cached : loaded;
  const Array& a = l.a;
  const OfxRectI full = l.bounds;
  OfxRectI b = full;
  OfxRectD want{};
  bool crop = false;
  if (region) {
    want = *region;
    crop = true;
  } else if (g_opt.crop_to_roi && t_have_roi) {
    want = t_roi;
    crop = true;
  }
  if (crop) {  // give what was asked (rounded out), within the data window
    const OfxRectI px = to_pixels(want, clip->media->par);
    b.x1 = std::max(full.x1, px.x1);
    b.y1 = std::max(full.y1, px.y1);
    b.x2 = std::min(full.x2, px.x2);
    b.y2 = std::min(full.y2, px.y2);
    if (b.x2 < b.x1) b.x2 = b.x1;
    if (b.y2 < b.y1) b.y2 = b.y1;
  }
  if (cached && !crop && b.y2 > b.y1) {
    // A host's cache hands its own buffer: no copy. The array is top-down, so the bottom row
    // (bounds.y1) is its last row and the row stride is negative.
    Image* img = new_image({0, 0, 0, 0}, a.c, components_for(a.c));
    const int row = a.w * a.c * 4;
    void* data = const_cast<float*>(a.px.data()) + static_cast<size_t>(a.h - 1) * a.w * a.c;
    propSetPointer(handle(&img->props), kOfxImagePropData, 0, data);
    propSetIntN(handle(&img->props), kOfxImagePropBounds, 4, &b.x1);
    propSetIntN(handle(&img->props), kOfxImagePropRegionOfDefinition, 4, &b.x1);
    propSetInt(handle(&img->props), kOfxImagePropRowBytes, 0, -row);
    *h = handle(&img->props);
    return kOfxStatOK;
  }
  Image* img = new_image(b, a.c, components_for(a.c));
  for (int y = b.y1; y < b.y2; ++y) {
    const int row_top_down = full.y2 - 1 - y;  // the array is top-down over its bounds
    const float* src =
        a.px.data() + (static_cast<size_t>(row_top_down) * a.w + (b.x1 - full.x1)) * a.c;
    std::memcpy(row_ptr(img, y), src, static_cast<size_t>(b.x2 - b.x1) * a.c * 4);
  }
  *h = handle(&img->props);
  return kOfxStatOK;
}
OfxStatus clipReleaseImage(OfxPropertySetHandle h) {
  --g_images_live;
  auto* img = reinterpret_cast<Image*>(ps(h));  // props is Image's first member
  if (img != t_output) delete img;
  return kOfxStatOK;
}
OfxStatus clipGetRegionOfDefinition(OfxImageClipHandle c, OfxTime t, OfxRectD* r) {
  HostCallback guard;
  auto* clip = reinterpret_cast<Clip*>(c);
  const Media* m = clip->media ? clip->media : &g_source;
  const int f = static_cast<int>(std::lround(t));
  if (!m->frames.count(f)) {
    *r = {0, 0, 0, 0};
    return kOfxStatOK;
  }
  const OfxRectI b = m->bounds(f);
  *r = {b.x1 * m->par, double(b.y1), b.x2 * m->par, double(b.y2)};
  return kOfxStatOK;
}
int abortFn(OfxImageEffectHandle) { return 0; }
OfxStatus imageMemoryAlloc(OfxImageEffectHandle, size_t n, OfxImageMemoryHandle* h) {
  *h = reinterpret_cast<OfxImageMemoryHandle>(std::malloc(n ? n : 1));
  return *h ? kOfxStatOK : kOfxStatErrMemory;
}
OfxStatus imageMemoryFree(OfxImageMemoryHandle h) {
  std::free(h);
  return kOfxStatOK;
}
OfxStatus imageMemoryLock(OfxImageMemoryHandle h, void** p) {
  *p = h;
  return kOfxStatOK;
}
OfxStatus imageMemoryUnlock(OfxImageMemoryHandle) { return kOfxStatOK; }

const OfxImageEffectSuiteV1 kEffectSuite = {getPropertySet,
                                            getParamSet,
                                            clipDefine,
                                            clipGetHandle,
                                            clipGetPropertySet,
                                            clipGetImage,
                                            clipReleaseImage,
                                            clipGetRegionOfDefinition,
                                            abortFn,
                                            imageMemoryAlloc,
                                            imageMemoryFree,
                                            imageMemoryLock,
                                            imageMemoryUnlock};

// ------------------------------------------------------------------------------ parameter suite
OfxStatus paramDefine(OfxParamSetHandle s, const char* type, const char* name,
                      OfxPropertySetHandle* h) {
  auto* set = reinterpret_cast<ParamSet*>(s);
  auto p = std::make_unique<Param>();
  p->type = type;
  propSetString(handle(&p->props), kOfxParamPropType, 0, type);
  return define_named(set->params, set->order, name, std::move(p), h);
}
OfxStatus paramGetHandle(OfxParamSetHandle s, const char* name, OfxParamHandle* p,
                         OfxPropertySetHandle* h) {
  return find_named(reinterpret_cast<ParamSet*>(s)->params, name, p, h);
}
OfxStatus paramSetGetPropertySet(OfxParamSetHandle s, OfxPropertySetHandle* h) {
  *h = handle(&reinterpret_cast<ParamSet*>(s)->props);
  return kOfxStatOK;
}
OfxStatus paramGetPropertySet(OfxParamHandle p, OfxPropertySetHandle* h) {
  *h = handle(&reinterpret_cast<Param*>(p)->props);
  return kOfxStatOK;
}
OfxStatus get_value(Param* p, va_list ap) {
  HostCallback guard;
  std::lock_guard<std::mutex> l(p->m);
  if (p->type == kOfxParamTypeString && g_opt.shared_string_buffer) {
    // One buffer for every string parameter, rewritten by each get (the reference host keeps
    // one per parameter): valid until the next get, on any thread. Deliberately unguarded.
    g_string_buffer = p->s;
    *va_arg(ap, char**) = const_cast<char*>(g_string_buffer.c_str());
  } else if (p->type == kOfxParamTypeString)
    *va_arg(ap, char**) = const_cast<char*>(p->s.c_str());
  else if (p->type == kOfxParamTypeDouble)
    *va_arg(ap, double*) = p->d;
  else if (p->type == kOfxParamTypeInteger || p->type == kOfxParamTypeChoice ||
           p->type == kOfxParamTypeBoolean)
    *va_arg(ap, int*) = p->i;
  else
    return kOfxStatErrBadHandle;
  return kOfxStatOK;
}
OfxStatus paramGetValue(OfxParamHandle h, ...) {
  va_list ap;
  va_start(ap, h);
  const OfxStatus s = get_value(reinterpret_cast<Param*>(h), ap);
  va_end(ap);
  return s;
}
OfxStatus set_value(Param* p, va_list ap) {
  std::lock_guard<std::mutex> l(p->m);
  if (p->type == kOfxParamTypeString)
    p->s = va_arg(ap, const char*);
  else if (p->type == kOfxParamTypeDouble)
    p->d = va_arg(ap, double);
  else
    p->i = va_arg(ap, int);
  return kOfxStatOK;
}
OfxStatus paramSetValue(OfxParamHandle h, ...) {
  va_list ap;
  va_start(ap, h);
  const OfxStatus s = set_value(reinterpret_cast<Param*>(h), ap);
  va_end(ap);
  return s;
}
OfxStatus paramSetValueAtTime(OfxParamHandle h, OfxTime, ...) {
  (void)h;
  return kOfxStatErrUnsupported;
}
OfxStatus paramGetDerivative(OfxParamHandle, OfxTime, ...) { return kOfxStatErrUnsupported; }
OfxStatus paramGetIntegral(OfxParamHandle, OfxTime, OfxTime, ...) { return kOfxStatErrUnsupported; }
OfxStatus paramGetNumKeys(OfxParamHandle, unsigned int* n) {
  *n = 0;
  return kOfxStatOK;
}
OfxStatus paramGetKeyTime(OfxParamHandle, unsigned int, OfxTime*) { return kOfxStatErrBadIndex; }
OfxStatus paramGetKeyIndex(OfxParamHandle, OfxTime, int, int*) { return kOfxStatFailed; }
OfxStatus paramDeleteKey(OfxParamHandle, OfxTime) { return kOfxStatErrBadIndex; }
OfxStatus paramDeleteAllKeys(OfxParamHandle) { return kOfxStatOK; }
OfxStatus paramCopy(OfxParamHandle, OfxParamHandle, OfxTime, const OfxRangeD*) {
  return kOfxStatErrUnsupported;
}
OfxStatus paramEditBegin(OfxParamSetHandle, const char*) { return kOfxStatOK; }
OfxStatus paramEditEnd(OfxParamSetHandle) { return kOfxStatOK; }

// paramGetValueAtTime: values do not animate in this host, so the value at any time is the value.
OfxStatus paramGetValueAtTimeImpl(OfxParamHandle h, OfxTime t, ...) {
  (void)t;
  va_list ap;
  va_start(ap, t);
  const OfxStatus s = get_value(reinterpret_cast<Param*>(h), ap);
  va_end(ap);
  return s;
}

const OfxParameterSuiteV1 kParamSuite = {
    paramDefine,         paramGetHandle,   paramSetGetPropertySet,
    paramGetPropertySet, paramGetValue,    paramGetValueAtTimeImpl,
    paramGetDerivative,  paramGetIntegral, paramSetValue,
    paramSetValueAtTime, paramGetNumKeys,  paramGetKeyTime,
    paramGetKeyIndex,    paramDeleteKey,   paramDeleteAllKeys,
    paramCopy,           paramEditBegin,   paramEditEnd};

// ------------------------------------------------------------------------------ messages, progress
OfxStatus record(const char* type, const char* fmt, va_list ap) {
  HostCallback guard;
  char buf[4096];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::lock_guard<std::mutex> l(g_msg_mutex);
  g_messages.emplace_back(type, buf);
  std::fprintf(stderr, "host: message %s: %s\n", type, buf);
  return kOfxStatOK;
}
OfxStatus message(void*, const char* type, const char*, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const OfxStatus s = record(type, fmt, ap);
  va_end(ap);
  return s;
}
OfxStatus setPersistentMessage(void*, const char* type, const char*, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const OfxStatus s = record((std::string("persistent ") + type).c_str(), fmt, ap);
  va_end(ap);
  return s;
}
OfxStatus clearPersistentMessage(void*) { return kOfxStatOK; }
const OfxMessageSuiteV1 kMsg1 = {message};
const OfxMessageSuiteV2 kMsg2 = {message, setPersistentMessage, clearPersistentMessage};

OfxStatus progressStart(void*, const char* label) {
  std::fprintf(stderr, "host: progress start %s\n", label);
  return kOfxStatOK;
}
OfxStatus progressUpdate(void*, double) {
  const int n = ++g_progress_updates;
  if (g_opt.cancel_after >= 0 && n >= g_opt.cancel_after) return kOfxStatReplyNo;
  return kOfxStatOK;
}
OfxStatus progressEnd(void*) { return kOfxStatOK; }
const OfxProgressSuiteV1 kProgress = {progressStart, progressUpdate, progressEnd};

PropSet g_host_props;
const void* fetchSuite(OfxPropertySetHandle, const char* name, int version) {
  const std::string n = name;
  if (n == g_opt.hide_suite) return nullptr;
  if (n == kOfxPropertySuite && version == 1) return &kPropSuite;
  if (n == kOfxImageEffectSuite && version == 1) return &kEffectSuite;
  if (n == kOfxParameterSuite && version == 1) return &kParamSuite;
  if (n == kOfxMessageSuite && version == 1) return &kMsg1;
  if (n == kOfxMessageSuite && version == 2) return &kMsg2;
  if (n == kOfxProgressSuite && version == 1) return &kProgress;
  return nullptr;
}
OfxHost g_host = {nullptr, fetchSuite};

// ------------------------------------------------------------------------------ driving
OfxStatus call(const char* action, void* h, PropSet* in, PropSet* out) {
  ++t_in_plugin;
  const OfxStatus st =
      g_plugin->mainEntry(action, h, in ? handle(in) : nullptr, out ? handle(out) : nullptr);
  --t_in_plugin;
  if (g_opt.log_actions) std::printf("action name=%s status=%d\n", action, st);
  return st;
}

// The shared objects mapped into this process (paths from /proc/self/maps).
std::set<std::string> loaded_libraries() {
  std::set<std::string> libs;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto at = line.find('/');
    if (at == std::string::npos) continue;
    const std::string path = line.substr(at);
    if (path.find(".so") != std::string::npos || path.find(".ofx") != std::string::npos)
      libs.insert(path);
  }
  return libs;
}

long rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

int python_initialized() {
  // The plugin's libpython (loaded RTLD_LOCAL with it): ask it directly.
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    const auto at = line.find('/');
    if (at == std::string::npos || line.find("libpython") == std::string::npos) continue;
    void* lib = dlopen(line.substr(at).c_str(), RTLD_LAZY | RTLD_NOLOAD);
    if (!lib) continue;
    auto fn = reinterpret_cast<int (*)()>(dlsym(lib, "Py_IsInitialized"));
    const int r = fn ? fn() : -1;
    dlclose(lib);
    return r;
  }
  return -1;  // no libpython in the process
}

bool set_param(Effect& inst, const std::string& kv) {
  const auto eq = kv.find('=');
  if (eq == std::string::npos) return false;
  const std::string name = kv.substr(0, eq), value = kv.substr(eq + 1);
  auto it = inst.params.params.find(name);
  if (it == inst.params.params.end()) {
    std::fprintf(stderr, "host: no parameter %s\n", name.c_str());
    return false;
  }
  Param& p = *it->second;
  std::lock_guard<std::mutex> l(p.m);
  if (p.type == kOfxParamTypeString)
    p.s = value;
  else if (p.type == kOfxParamTypeDouble)
    p.d = std::atof(value.c_str());
  else if (p.type == kOfxParamTypeChoice) {
    const int n = dim(p.props, kOfxParamPropChoiceOption);
    int found = -1;
    for (int k = 0; k < n; ++k)
      if (sprop(p.props, kOfxParamPropChoiceOption, k) == value) found = k;
    p.i = found >= 0 ? found : std::atoi(value.c_str());
  } else
    p.i = std::atoi(value.c_str());
  return true;
}

std::string value_text(Param& p) {
  std::lock_guard<std::mutex> l(p.m);
  if (p.type == kOfxParamTypeString) return p.s;
  if (p.type == kOfxParamTypeDouble) {
    char b[64];
    std::snprintf(b, sizeof b, "%.17g", p.d);
    return b;
  }
  if (p.type == kOfxParamTypeChoice) return sprop(p.props, kOfxParamPropChoiceOption, p.i);
  return std::to_string(p.i);
}

struct Counts {
  std::atomic<int> ok{0}, failed{0}, identity{0};
  std::atomic<long> ns{0};
  std::atomic<long> pre_ns{0};  // isIdentity + getRegionsOfInterest (the node's per-frame asks)
};

// One frame as a host renders it: identity?, regions of interest, render (in tiles if asked).
bool render_frame(Effect& inst, int f, const std::string& out_path, Counts& counts) {
  const auto t0 = std::chrono::steady_clock::now();
  // The source frame at the render scale: its bounds are the frame's region to render (pixels at
  // that scale), and an identity frame is a copy of it.
  Loaded source;
  std::string err;
  if (!load_frame(g_source, f, g_opt.render_scale, source, &err)) {
    std::fprintf(stderr, "host: %s\n", err.c_str());
    ++counts.failed;
    return false;
  }
  const OfxRectI full = source.bounds;
  const double s = g_opt.render_scale;
  const double par = g_source.par;
  PropSet in;
  propSetDouble(handle(&in), kOfxPropTime, 0, f);
  propSetString(handle(&in), kOfxImageEffectPropFieldToRender, 0, kOfxImageFieldNone);
  propSetIntN(handle(&in), kOfxImageEffectPropRenderWindow, 4, &full.x1);
  const double scale[2] = {s, g_opt.render_scale_y > 0 ? g_opt.render_scale_y : s};
  propSetDoubleN(handle(&in), kOfxImageEffectPropRenderScale, 2, scale);
  PropSet idout;
  Array result;
  result.h = full.y2 - full.y1;
  result.w = full.x2 - full.x1;
  bool ok = true;
  if (g_opt.print_roi) {
    // The face box the plugin reads, from two probes: the RoI of a one-unit region at the
    // frame's bottom-left corner reaches the face's far edges, at the top-right its near ones.
    const double x2 = full.x2 * par / s, y2 = full.y2 / s, x1 = full.x1 * par / s, y1 = full.y1 / s;
    const OfxRectD probes[2] = {{x1, y1, x1 + 1, y1 + 1}, {x2 - 1, y2 - 1, x2, y2}};
    OfxRectD got[2];
    bool have = true;
    for (int k = 0; k < 2; ++k) {
      PropSet rin, rout;
      propSetDouble(handle(&rin), kOfxPropTime, 0, f);
      propSetDoubleN(handle(&rin), kOfxImageEffectPropRegionOfInterest, 4, &probes[k].x1);
      propSetDoubleN(handle(&rin), kOfxImageEffectPropRenderScale, 2, scale);
      have &=
          call(kOfxImageEffectActionGetRegionsOfInterest, &inst, &rin, &rout) == kOfxStatOK &&
          propGetDoubleN(handle(&rout), "OfxImageClipPropRoI_Source", 4, &got[k].x1) == kOfxStatOK;
    }
    if (have)
      std::printf("roi_face frame=%d x1=%.6g y1=%.6g x2=%.6g y2=%.6g\n", f, got[1].x1, got[1].y1,
                  got[0].x2, got[0].y2);
    else
      std::printf("roi_face frame=%d none\n", f);
  }
  const auto t_id = std::chrono::steady_clock::now();
  const OfxStatus id_status = call(kOfxImageEffectActionIsIdentity, &inst, &in, &idout);
  counts.pre_ns +=
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t_id)
          .count();
  if (id_status == kOfxStatOK) {
    // The host copies the identity clip's frame itself.
    result = source.a;
    ++counts.identity;
  } else {
    result.c = source.a.c;
    result.px.assign(static_cast<size_t>(result.h) * result.w * result.c, 0.0f);
    const int step = g_opt.tile_rows > 0 ? g_opt.tile_rows : result.h;
    for (int y1 = full.y1; y1 < full.y2 && ok; y1 += step) {
      const OfxRectI win{full.x1, y1, full.x2, std::min(y1 + step, full.y2)};
      // The region to render in canonical coordinates: pixels / scale, x times the pixel aspect.
      const OfxRectD rwin{win.x1 * par / s, win.y1 / s, win.x2 * par / s, win.y2 / s};
      PropSet rin, rout;
      propSetDouble(handle(&rin), kOfxPropTime, 0, f);
      propSetDoubleN(handle(&rin), kOfxImageEffectPropRegionOfInterest, 4, &rwin.x1);
      propSetDoubleN(handle(&rin), kOfxImageEffectPropRenderScale, 2, scale);
      t_have_roi = false;
      const auto t_roi0 = std::chrono::steady_clock::now();
      const OfxStatus roi_status =
          call(kOfxImageEffectActionGetRegionsOfInterest, &inst, &rin, &rout);
      counts.pre_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - t_roi0)
                           .count();
      if (roi_status == kOfxStatOK && dim(rout, "OfxImageClipPropRoI_Source") == 4) {
        propGetDoubleN(handle(&rout), "OfxImageClipPropRoI_Source", 4, &t_roi.x1);
        t_have_roi = true;
        if (g_opt.print_roi)
          std::printf("roi frame=%d window=%d,%d,%d,%d x1=%.6g y1=%.6g x2=%.6g y2=%.6g\n", f,
                      win.x1, win.y1, win.x2, win.y2, t_roi.x1, t_roi.y1, t_roi.x2, t_roi.y2);
      } else if (g_opt.crop_to_roi) {
        t_roi = rwin;
        t_have_roi = true;
      }
      std::unique_ptr<Image> out(new_image(win, result.c, components_for(result.c)));
      --g_images_live;  // the host's own buffer, not a fetched image
      t_output = out.get();
      PropSet win_in = in;
      const int pad = g_opt.window_pad;
      const OfxRectI asked{win.x1 - pad, win.y1 - pad, win.x2 + pad, win.y2 + pad};
      propSetIntN(handle(&win_in), kOfxImageEffectPropRenderWindow, 4, &asked.x1);
      const OfxStatus st = call(kOfxImageEffectActionRender, &inst, &win_in, nullptr);
      t_output = nullptr;
      if (st != kOfxStatOK) {
        std::printf("render_failed frame=%d status=%d\n", f, st);
        ok = false;
        break;
      }
      for (int y = win.y1; y < win.y2; ++y) {
        const int top_down = full.y2 - 1 - y;
        std::memcpy(result.px.data() + static_cast<size_t>(top_down) * result.w * result.c,
                    row_ptr(out.get(), y), static_cast<size_t>(result.w) * result.c * 4);
      }
    }
  }
  counts.ns +=
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  if (!ok) {
    ++counts.failed;
    return false;
  }
  ++counts.ok;
  if (!out_path.empty()) write_npy(out_path, result);
  return true;
}

bool press(Effect& inst, const std::string& name) {
  PropSet in;
  propSetString(handle(&in), kOfxPropType, 0, kOfxTypeParameter);
  propSetString(handle(&in), kOfxPropName, 0, name.c_str());
  propSetString(handle(&in), kOfxPropChangeReason, 0, kOfxChangeUserEdited);
  propSetDouble(handle(&in), kOfxPropTime, 0, g_opt.first);
  const double scale[2] = {g_opt.render_scale,
                           g_opt.render_scale_y > 0 ? g_opt.render_scale_y : g_opt.render_scale};
  propSetDoubleN(handle(&in), kOfxImageEffectPropRenderScale, 2, scale);
  const auto t0 = std::chrono::steady_clock::now();
  const OfxStatus st = call(kOfxActionInstanceChanged, &inst, &in, nullptr);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("press name=%s status=%d ms=%.1f\n", name.c_str(), st, ms);
  return st == kOfxStatOK;
}

int usage(const char* why) {
  std::fprintf(stderr, "ofx_test_host: %s (see the header of tests/ofx_host/host.cpp)\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options& o = g_opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--bundle")
      o.bundle = next();
    else if (a == "--describe")
      o.describe = true;
    else if (a == "--source")
      o.source = next();
    else if (a == "--mask")
      o.mask = next();
    else if (a == "--out")
      o.out = next();
    else if (a == "--frames") {
      const std::string r = next();
      const auto d = r.find('-', 1);
      o.first = std::atoi(r.substr(0, d).c_str());
      o.last = d == std::string::npos ? o.first : std::atoi(r.substr(d + 1).c_str());
    } else if (a == "--threads")
      o.threads = std::atoi(next().c_str());
    else if (a == "--set")
      o.sets.push_back(next());
    else if (a == "--phase")
      o.phases.push_back(next());
    else if (a == "--press")
      o.presses.push_back(next());
    else if (a == "--tile-rows")
      o.tile_rows = std::atoi(next().c_str());
    else if (a == "--top-down")
      o.top_down = true;
    else if (a == "--crop-to-roi")
      o.crop_to_roi = true;
    else if (a == "--cancel-after")
      o.cancel_after = std::atoi(next().c_str());
    else if (a == "--load-params")
      o.load_params = next();
    else if (a == "--save-params")
      o.save_params = next();
    else if (a == "--start-python")
      o.start_python = next();
    else if (a == "--render-scale")
      o.render_scale = std::atof(next().c_str());
    else if (a == "--label-depth")
      o.label_depth = next();
    else if (a == "--preload")
      o.preload = true;
    else if (a == "--clip-format")
      o.clip_format = true;
    else if (a == "--project") {
      const std::string v = next();
      o.project_w = std::atoi(v.c_str());
      o.project_h = std::atoi(v.substr(v.find('x') + 1).c_str());
    } else if (a == "--window-pad")
      o.window_pad = std::atoi(next().c_str());
    else if (a == "--shared-string-buffer")
      o.shared_string_buffer = true;
    else if (a == "--log-actions")
      o.log_actions = true;
    else if (a == "--print-roi")
      o.print_roi = true;
    else if (a == "--fail-alloc")
      o.fail_alloc = std::atol(next().c_str());
    else if (a == "--maps")
      o.maps = true;
    else if (a == "--hide-suite")
      o.hide_suite = next();
    else if (a == "--render-scale-y")
      o.render_scale_y = std::atof(next().c_str());
    else
      return usage(("unknown argument " + a).c_str());
  }
  if (o.bundle.empty()) return usage("--bundle is required");
  if (!scale_factor(o.render_scale)) return usage("--render-scale must be 1/k (1, 0.5, 0.25, ...)");

  if (!o.start_python.empty()) {  // as Nuke does: the host's Python runs before any plugin
    void* py = dlopen(o.start_python.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (!py) return usage(dlerror());
    reinterpret_cast<void (*)(int)>(dlsym(py, "Py_InitializeEx"))(0);
    reinterpret_cast<void* (*)()>(dlsym(py, "PyEval_SaveThread"))();
    std::printf("host_python=started\n");
  }
  const std::set<std::string> libs_before = loaded_libraries();  // the host's own

  const auto t_load = std::chrono::steady_clock::now();
  const std::string binary = o.bundle + "/Contents/Linux-x86-64/FaceSwap.ofx";
  void* lib = dlopen(binary.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) return usage(dlerror());
  auto get_n = reinterpret_cast<int (*)()>(dlsym(lib, "OfxGetNumberOfPlugins"));
  auto get_p = reinterpret_cast<OfxPlugin* (*)(int)>(dlsym(lib, "OfxGetPlugin"));
  if (!get_n || !get_p) return usage("the bundle does not export the OFX entry points");
  if (get_n() != 1) return usage("expected one plugin");
  g_plugin = get_p(0);
  if (std::strcmp(g_plugin->pluginApi, kOfxImageEffectPluginApi) != 0)
    return usage("not an image effect plugin");
  g_host.host = handle(&g_host_props);
  propSetString(handle(&g_host_props), kOfxPropName, 0, "io.doppel.ofx_test_host");
  propSetString(handle(&g_host_props), kOfxPropLabel, 0, "Doppel OFX test host");
  propSetInt(handle(&g_host_props), kOfxImageEffectHostPropIsBackground, 0, 1);
  propSetInt(handle(&g_host_props), kOfxImageEffectPropSupportsTiles, 0, 1);
  propSetInt(handle(&g_host_props), kOfxImageEffectPropTemporalClipAccess, 0, 1);
  g_plugin->setHost(&g_host);
  if (call(kOfxActionLoad, nullptr, nullptr, nullptr) != kOfxStatOK) return usage("load failed");
  Effect desc;
  propSetString(handle(&desc.props), kOfxPropType, 0, kOfxTypeImageEffect);
  if (call(kOfxActionDescribe, &desc, nullptr, nullptr) != kOfxStatOK)
    return usage("describe failed");
  Effect ctx;
  ctx.props = desc.props;
  PropSet ctx_in;
  propSetString(handle(&ctx_in), kOfxImageEffectPropContext, 0, kOfxImageEffectContextFilter);
  if (call(kOfxImageEffectActionDescribeInContext, &ctx, &ctx_in, nullptr) != kOfxStatOK)
    return usage("describe in context failed");
  const double load_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();
  std::printf("plugin=%s version=%u.%u\n", g_plugin->pluginIdentifier, g_plugin->pluginVersionMajor,
              g_plugin->pluginVersionMinor);
  std::printf("load_describe_ms=%.2f\n", load_ms);
  std::printf("python_initialized_after_describe=%d\n", python_initialized());

  if (o.describe) {
    for (int k = 0; k < dim(desc.props, kOfxImageEffectPropSupportedContexts); ++k)
      std::printf("context=%s\n",
                  sprop(desc.props, kOfxImageEffectPropSupportedContexts, k).c_str());
    std::printf("thread_safety=%s\n",
                sprop(desc.props, kOfxImageEffectPluginRenderThreadSafety).c_str());
    for (int k = 0; k < dim(desc.props, kOfxImageEffectPropSupportedPixelDepths); ++k)
      std::printf("depth=%s\n",
                  sprop(desc.props, kOfxImageEffectPropSupportedPixelDepths, k).c_str());
    for (const auto& n : ctx.clip_order)
      std::printf("clip=%s optional=%d\n", n.c_str(),
                  iprop(ctx.clips[n]->props, kOfxImageClipPropOptional));
    for (const auto& n : ctx.params.order) {
      Param& p = *ctx.params.params[n];
      std::printf("param=%s type=%s parent=%s label=%s\n", n.c_str(), p.type.c_str(),
                  sprop(p.props, kOfxParamPropParent).c_str(),
                  sprop(p.props, kOfxPropLabel).c_str());
    }
    return 0;
  }

  if (o.source.empty() || !read_media(o.source, g_source))
    return usage("--source frames.txt needed");
  if (!o.mask.empty() && !read_media(o.mask, g_mask)) return usage("bad --mask frames.txt");
  if (o.last < o.first) {
    o.first = g_source.frames.begin()->first;
    o.last = g_source.frames.rbegin()->first;
  }
  if (o.preload)
    for (const auto& [f, ff] : g_source.frames) {
      std::string err;
      if (f >= o.first && f <= o.last &&
          !load_frame(g_source, f, o.render_scale, g_preloaded[f], &err))
        return usage(err.c_str());
    }

  // The instance: the context's descriptor, with the project and clips of this shot.
  Effect inst;
  inst.props = ctx.props;
  propSetString(handle(&inst.props), kOfxPropType, 0, kOfxTypeImageEffectInstance);
  propSetString(handle(&inst.props), kOfxImageEffectPropContext, 0, kOfxImageEffectContextFilter);
  const double size[2] = {(o.project_w ? o.project_w : g_source.width) * g_source.par,
                          double(o.project_h ? o.project_h : g_source.height)};
  const double zero[2] = {0, 0};
  propSetDoubleN(handle(&inst.props), kOfxImageEffectPropProjectSize, 2, size);
  propSetDoubleN(handle(&inst.props), kOfxImageEffectPropProjectExtent, 2, size);
  propSetDoubleN(handle(&inst.props), kOfxImageEffectPropProjectOffset, 2, zero);
  propSetDouble(handle(&inst.props), kOfxImageEffectPropProjectPixelAspectRatio, 0, g_source.par);
  const double range[2] = {double(g_source.frames.begin()->first),
                           double(g_source.frames.rbegin()->first)};
  propSetDoubleN(handle(&inst.props), kOfxImageEffectPropFrameRange, 2, range);
  propSetInt(handle(&inst.props), kOfxPropIsInteractive, 0, 0);
  for (const auto& n : ctx.clip_order) {
    auto c = std::make_unique<Clip>();
    c->name = n;
    c->props = ctx.clips[n]->props;
    const bool is_mask = n == "Mask";
    c->media = n == kOfxImageEffectSimpleSourceClipName ? &g_source
               : (is_mask && g_mask.ok())               ? &g_mask
                                                        : nullptr;
    const bool connected = n == kOfxImageEffectOutputClipName || c->media != nullptr;
    propSetInt(handle(&c->props), kOfxImageClipPropConnected, 0, connected ? 1 : 0);
    propSetDoubleN(handle(&c->props), kOfxImageEffectPropFrameRange, 2, range);
    propSetDoubleN(handle(&c->props), kOfxImageEffectPropUnmappedFrameRange, 2, range);
    propSetDouble(handle(&c->props), kOfxImagePropPixelAspectRatio, 0, g_source.par);
    propSetString(handle(&c->props), kOfxImageEffectPropPixelDepth, 0, kOfxBitDepthFloat);
    if (o.clip_format) {
      const Media& m = c->media ? *c->media : g_source;
      const int fmt[4] = {0, 0, m.width, m.height};
      propSetIntN(handle(&c->props), kOfxImageClipPropFormat, 4, fmt);
    }
    inst.clip_order.push_back(n);
    inst.clips[n] = std::move(c);
  }
  cp(&ctx.params, &inst.params);
  if (call(kOfxActionCreateInstance, &inst, nullptr, nullptr) != kOfxStatOK)
    return usage("create instance failed");
  std::printf("python_initialized_after_create=%d\n", python_initialized());

  bool all_ok = true;
  if (!o.load_params.empty()) {
    std::ifstream in(o.load_params);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) all_ok &= set_param(inst, line);
  }
  for (const auto& kv : o.sets) all_ok &= set_param(inst, kv);
  g_fail_armed = o.fail_alloc > 0;  // presses run armed (phase 0 renders do not)
  for (const auto& name : o.presses) all_ok &= press(inst, name);
  g_fail_armed = false;
  if (!o.save_params.empty()) {  // what a saved comp keeps: every parameter's value
    std::ofstream out(o.save_params);
    for (const auto& n : inst.params.order) {
      Param& p = *inst.params.params[n];
      if (p.type == kOfxParamTypeGroup || p.type == kOfxParamTypePushButton) continue;
      out << n << "=" << value_text(p) << "\n";
    }
  }

  std::vector<std::string> phases = o.phases;
  if (phases.empty() && o.last >= o.first && (o.presses.empty() || !o.out.empty()))
    phases.push_back("");
  const long rss_start = rss_kb();
  for (size_t ph = 0; ph < phases.size(); ++ph) {
    std::stringstream ss(phases[ph]);
    std::string kv;
    while (std::getline(ss, kv, ';'))
      if (!kv.empty()) all_ok &= set_param(inst, kv);
    g_fail_armed = o.fail_alloc > 0 && ph == 1;  // phase 0 loads the model, 2 recovers
    Counts counts;
    std::atomic<int> next{o.first};
    std::vector<long> rss_at;
    std::mutex rss_mutex;
    const auto t0 = std::chrono::steady_clock::now();
    auto worker = [&] {
      for (int f = next++; f <= o.last; f = next++) {
        if (!g_source.frames.count(f)) continue;
        std::string path;
        if (!o.out.empty()) {
          char name[64];
          std::snprintf(name, sizeof name, "/out.p%zu.%04d.npy", ph, f);
          path = o.out + name;
        }
        render_frame(inst, f, path, counts);
        std::lock_guard<std::mutex> l(rss_mutex);
        rss_at.push_back(rss_kb());
      }
    };
    std::vector<std::thread> pool;
    for (int k = 0; k < std::max(1, o.threads); ++k) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
    const double wall =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const int n = counts.ok + counts.failed;
    std::printf(
        "phase=%zu ok=%d failed=%d identity=%d wall_ms=%.1f ms_per_frame=%.2f "
        "ask_ms_per_frame=%.3f\n",
        ph, counts.ok.load(), counts.failed.load(), counts.identity.load(), wall,
        n ? counts.ns.load() / 1e6 / n : 0.0, n ? counts.pre_ns.load() / 1e6 / n : 0.0);
    if (!rss_at.empty()) {
      const size_t q = rss_at.size() / 5;
      std::printf("phase=%zu rss_kb_first=%ld rss_kb_fifth=%ld rss_kb_last=%ld\n", ph,
                  rss_at.front(), rss_at[q], rss_at.back());
    }
    all_ok &= counts.failed == 0;
  }
  (void)rss_start;
  {
    std::lock_guard<std::mutex> l(g_msg_mutex);
    int errors = 0, loads = 0;
    for (const auto& [type, text] : g_messages) {
      if (type.find(kOfxMessageError) != std::string::npos) ++errors;
      if (text.find("model loaded") != std::string::npos) ++loads;
    }
    std::printf("messages_error=%d model_loads_logged=%d progress_updates=%d\n", errors, loads,
                g_progress_updates.load());
  }
  g_fail_armed = false;
  if (o.maps)  // what loading and running the plugin brought into this process
    for (const auto& lib : loaded_libraries())
      if (!libs_before.count(lib)) std::printf("loaded_lib=%s\n", lib.c_str());
  call(kOfxActionDestroyInstance, &inst, nullptr, nullptr);
  call(kOfxActionUnload, nullptr, nullptr, nullptr);
  std::printf("images_live=%ld\n", g_images_live.load());
  std::fflush(stdout);
  return all_ok ? 0 : 1;
}

// --fail-alloc: the process's operator new (the plugin's too: an executable's definition comes
// first in symbol lookup, even for a library opened RTLD_LOCAL). Not under ThreadSanitizer, whose
// runtime brings its own.
#if !defined(__SANITIZE_THREAD__)
void* operator new(std::size_t n) {
  if (g_opt.fail_alloc > 0 && static_cast<long>(n) >= g_opt.fail_alloc && t_in_plugin > 0 &&
      g_fail_armed.load(std::memory_order_relaxed))
    throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// Out of line: inlined, GCC would see free() on new's pointers (-Wmismatched-new-delete).
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#endif
