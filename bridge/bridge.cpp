// SPDX-License-Identifier: Apache-2.0
// See bridge.h. Python is started at most once per process and never finalised: a host may
// unload and reload plugins, and numpy, ONNX Runtime and OpenCV cannot be re-initialised.
#include "bridge.h"

#include <Python.h>
#include <dlfcn.h>
#include <pybind11/embed.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

namespace py = pybind11;

namespace doppel::bridge {
namespace {

std::mutex g_start_mutex;
Status g_status;
bool g_ready = false;
bool g_site_added = false;

std::string trim(const std::string& s) {
  const auto a = s.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const auto b = s.find_last_not_of(" \t\r\n");
  return s.substr(a, b - a + 1);
}

// key = value lines; '#' starts a comment.
std::string read_key(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line.substr(0, line.find('#')));
    const auto eq = line.find('=');
    if (eq != std::string::npos && trim(line.substr(0, eq)) == key)
      return trim(line.substr(eq + 1));
  }
  return "";
}

// A message is one line: Python's errors carry a traceback after the first.
std::string first_line(const std::string& s) { return trim(s.substr(0, s.find('\n'))); }

std::string dirname(const std::string& p) {
  const auto s = p.find_last_of('/');
  return s == std::string::npos ? "." : p.substr(0, s);
}

bool is_file(const std::string& p) { return std::ifstream(p).good(); }

// The venv from DOPPEL_VENV, else from the bundle's Contents/Resources/doppel.cfg (`venv = ...`).
std::string configured_venv(const std::string& module_path, std::string* where) {
  if (const char* env = std::getenv("DOPPEL_VENV"); env && *env) {
    *where = "DOPPEL_VENV";
    return env;
  }
  // module: <bundle>/Contents/Linux-x86-64/FaceSwap.ofx
  const std::string cfg = dirname(dirname(module_path)) + "/Resources/doppel.cfg";
  *where = cfg;
  return read_key(cfg, "venv");
}

std::string compiled_version() {
  return std::to_string(PY_MAJOR_VERSION) + "." + std::to_string(PY_MINOR_VERSION);
}

// Make libpython's symbols global: numpy's extension modules do not link libpython and find
// its symbols in the global scope, which they are not in when the host opened us RTLD_LOCAL.
void promote_libpython() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&Py_IsInitialized), &info) && info.dli_fname) {
    if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) dlerror();
  }
}

void check_venv(const std::string& venv, const std::string& where) {
  if (venv.empty())
    throw Error(
        "Doppel: no Python environment configured; set DOPPEL_VENV to the venv "
        "Doppel is installed in, or 'venv = PATH' in " +
            where,
        ErrorKind::kInput);
  const std::string cfg = venv + "/pyvenv.cfg";
  if (!is_file(cfg))
    throw Error("Doppel: " + venv + " (from " + where +
                    ") is not a Python venv (no "
                    "pyvenv.cfg); point it at the venv Doppel is installed in (make setup)",
                ErrorKind::kInput);
  std::string version = read_key(cfg, "version");
  if (version.empty()) version = read_key(cfg, "version_info");
  const std::string want = compiled_version();
  if (version.rfind(want + ".", 0) != 0 && version != want)
    throw Error("Doppel: venv " + venv + " is Python " + (version.empty() ? "?" : version) +
                    " but this plugin was built for Python " + want + "; use a " + want +
                    " venv or rebuild the plugin with that Python (make plugin PYTHON=...)",
                ErrorKind::kInput);
  if (!is_file(venv + "/bin/python"))
    throw Error("Doppel: venv " + venv + " has no bin/python; recreate it (make setup)",
                ErrorKind::kInput);
}

void start_interpreter(const std::string& venv) {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 0;  // the host owns signals
  config.parse_argv = 0;
  const std::string program = venv + "/bin/python";
  // The venv's python as the program: Python's startup finds pyvenv.cfg beside it and takes
  // the venv's site-packages, as running that python would.
  PyStatus st = PyConfig_SetBytesString(&config, &config.program_name, program.c_str());
  if (!PyStatus_Exception(st)) st = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(st))
    throw Error(std::string("Doppel: Python failed to start from ") + venv + ": " +
                    (st.err_msg ? st.err_msg : "unknown error"),
                ErrorKind::kInput);
  PyEval_SaveThread();  // release the GIL: every call takes it for itself
}

ErrorKind kind_named(const std::string& k) {
  static const std::pair<const char*, ErrorKind> kinds[] = {
      {"input", ErrorKind::kInput},         {"media", ErrorKind::kMedia},
      {"settings", ErrorKind::kSettings},   {"output", ErrorKind::kOutput},
      {"disk_full", ErrorKind::kDiskFull},  {"model", ErrorKind::kModel},
      {"cancelled", ErrorKind::kCancelled}, {"memory", ErrorKind::kMemory}};
  for (const auto& [name, kind] : kinds)
    if (k == name) return kind;
  return ErrorKind::kInternal;
}

// The current Python exception as a typed C++ error: its kind from its class and its one-line
// message (engine.host.node.describe_error); a Cancelled as `Cancelled`.
[[noreturn]] void rethrow_typed(py::error_already_set& e) {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  try {
    py::tuple d = py::module_::import("engine.host.node").attr("describe_error")(e.value());
    kind = kind_named(d[0].cast<std::string>());
    message = d[1].cast<std::string>();
  } catch (...) {
    message = std::string("Doppel: ") + first_line(e.what());
  }
  if (kind == ErrorKind::kCancelled) throw Cancelled(message);
  throw Error(message, kind);
}

py::array view(const ImageView& v) {
  const py::capsule base(v.data, [](void*) {});  // the host owns the pixels
  py::array a(py::dtype::of<float>(), {v.height, v.width, v.channels},
              {v.row_bytes, v.pixel_bytes, v.channel_bytes}, v.data, base);
  if (!v.writable) a.attr("setflags")(py::arg("write") = false);
  return a;
}

py::dict to_dict(const Values& values) {
  py::dict d;
  for (const auto& [k, v] : values) std::visit([&](const auto& x) { d[py::str(k)] = x; }, v);
  return d;
}

// The GIL for one call, on a thread state kept for the thread's life. Creating a fresh Python
// thread state per call (what PyGILState_Ensure does on a thread that has none, and pybind11's
// gil_scoped_acquire) costs ~1.5 ms here with numpy loaded: per-thread state is rebuilt every
// time. Host render threads are long-lived, so each keeps one (one extra Ensure never released
// until the thread exits). Nesting and a host thread that already holds the GIL (Nuke's main
// thread running a script) are handled by PyGILState's counter, as with a plain Ensure.
struct KeptThreadState {
  bool kept = false;
  ~KeptThreadState() {
    if (!kept || !Py_IsInitialized() || PyGILState_GetThisThreadState() == nullptr) return;
    PyGILState_Ensure();                      // GIL held, counter 2
    PyGILState_Release(PyGILState_LOCKED);    // counter 1, GIL still held
    PyGILState_Release(PyGILState_UNLOCKED);  // counter 0: the thread state is deleted
  }
};
thread_local KeptThreadState t_kept;

class Gil {
 public:
  Gil() {
    if (!t_kept.kept && PyGILState_GetThisThreadState() == nullptr) {
      // A thread Python has never seen: make its state once and keep it (counter 1). Threads
      // with a state of their own (the host's Python threads) keep theirs, owned by the host.
      PyGILState_Ensure();
      PyEval_SaveThread();  // drop the GIL, keep the thread state
      t_kept.kept = true;
    }
    state_ = PyGILState_Ensure();
  }
  ~Gil() { PyGILState_Release(state_); }
  Gil(const Gil&) = delete;
  Gil& operator=(const Gil&) = delete;

 private:
  PyGILState_STATE state_;
};

py::tuple display_tuple(const Display& d) { return py::make_tuple(d.x, d.y, d.width, d.height); }

// The frame's scale and format source, as keyword arguments of the engine's node calls.
py::dict display_kwargs(const Display& d) {
  py::dict kw;
  kw["scale"] = d.scale;
  kw["format_from"] = d.from_project ? "project" : "clip";
  return kw;
}

}  // namespace

bool python_initialized() { return Py_IsInitialized() != 0; }

Status ensure_python(const std::string& module_path) {
  std::lock_guard<std::mutex> lock(g_start_mutex);
  if (g_ready) return g_status;
  promote_libpython();
  std::string where;
  const std::string venv = configured_venv(module_path, &where);
  if (!Py_IsInitialized()) {
    check_venv(venv, where);
    start_interpreter(venv);
    g_status.mode = Mode::kStarted;
  } else if (g_status.mode == Mode::kNone) {
    g_status.mode = Mode::kAttached;
  }
  g_status.venv = venv;
  Gil gil;
  try {
    py::module_ sys = py::module_::import("sys");
    g_status.version = sys.attr("version").cast<std::string>();
    const auto vi = sys.attr("version_info");
    const std::string running = std::to_string(vi.attr("major").cast<int>()) + "." +
                                std::to_string(vi.attr("minor").cast<int>());
    if (running != compiled_version())
      throw Error("Doppel: the host runs Python " + running + " but this plugin was built for " +
                      compiled_version() + "; rebuild it against the host's Python",
                  ErrorKind::kInput);
    if (g_status.mode == Mode::kAttached && !venv.empty() && !g_site_added) {
      // The host's own interpreter: add the venv's packages (numpy, onnxruntime, engine).
      check_venv(venv, where);
      py::module_::import("site").attr("addsitedir")(venv + "/lib/python" + compiled_version() +
                                                     "/site-packages");
      g_site_added = true;
    }
    py::module_::import("engine.host.node");
  } catch (py::error_already_set& e) {
    throw Error("Doppel: cannot import the engine in Python " + compiled_version() +
                    (venv.empty() ? std::string(" (no venv configured: set DOPPEL_VENV)")
                                  : " from venv " + venv) +
                    " (" + first_line(e.what()).substr(0, 200) +
                    "); install Doppel into it: "
                    "VENV/bin/pip install -e <doppel checkout>",
                ErrorKind::kInput);
  }
  g_ready = true;
  return g_status;
}

struct Node::Impl {
  py::object node;
};

// Every entry: take the GIL, run, turn a Python exception into Error with its one line.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  Gil gil;
  try {
    return f();
  } catch (py::error_already_set& e) {
    rethrow_typed(e);
  } catch (py::cast_error& e) {
    throw Error(std::string("Doppel: internal error (bad value from the engine: ") + e.what() +
                ")");
  }
}

Node::Node() : impl_(new Impl) {
  guarded([&] {
    impl_->node = py::module_::import("engine.host.node").attr("Node")();
    return 0;
  });
}

Node::~Node() {
  if (!Py_IsInitialized()) {  // the host's Python already went away: leak, never decref
    impl_->node.release();
    return;
  }
  Gil gil;
  impl_->node = py::object();
}

bool Node::is_identity(double frame, const Values& values) {
  return guarded([&] {
    return impl_->node.attr("is_identity")(static_cast<int>(frame), to_dict(values)).cast<bool>();
  });
}

std::optional<Box> Node::roi(double frame, const Values& values, const Display& display) {
  return guarded([&]() -> std::optional<Box> {
    py::object r =
        impl_->node.attr("roi")(static_cast<int>(frame), to_dict(values), display_tuple(display),
                                display.pixel_aspect, **display_kwargs(display));
    if (r.is_none()) return std::nullopt;
    auto t = r.cast<std::vector<int>>();
    return Box{t.at(0), t.at(1), t.at(2), t.at(3)};
  });
}

RenderInfo Node::render(double frame, const Values& values, const ImageView& src, int src_x,
                        int src_y, const ImageView& out, int out_x, int out_y,
                        const Display& display, const ImageView* holdout) {
  return guarded([&] {
    py::object hold = holdout ? py::object(view(*holdout)) : py::object(py::none());
    if (holdout) hold = hold.attr("__getitem__")(py::make_tuple(py::ellipsis(), 0));
    py::dict d = impl_->node.attr("render")(static_cast<int>(frame), to_dict(values), view(src),
                                            py::make_tuple(src_x, src_y), view(out),
                                            py::make_tuple(out_x, out_y), display_tuple(display),
                                            display.pixel_aspect, hold, **display_kwargs(display));
    RenderInfo info;
    info.swapped = d["swapped"].cast<bool>();
    info.reason = d["reason"].cast<std::string>();
    info.process_ms = d["process_ms"].cast<double>();
    info.loads = impl_->node.attr("loads").cast<long>();
    return info;
  });
}

AnalyzeResult Node::analyze(const Values& values, const std::vector<int>& frames,
                            const std::function<HostFrame(int)>& fetch, const Display& display,
                            const std::function<bool(int, int)>& progress) {
  return guarded([&] {
    bool cancelled = false;
    py::cpp_function py_fetch([&fetch](int f) {
      HostFrame hf;
      std::string failure;
      bool no_memory = false;
      {
        py::gil_scoped_release release;  // the host may render upstream on other threads
        try {
          hf = fetch(f);
        } catch (const std::bad_alloc&) {
          no_memory = true;
        } catch (const std::exception& e) {
          failure = e.what();
        }
      }
      if (no_memory) {  // not this frame's problem: the analysis stops, as a MemoryError
        PyErr_NoMemory();
        throw py::error_already_set();
      }
      if (!failure.empty()) {  // a frame the host cannot give: the analysis skips it
        py::object media_error = py::module_::import("engine.errors").attr("MediaError");
        PyErr_SetString(media_error.ptr(), failure.c_str());
        throw py::error_already_set();
      }
      auto* owner = new std::vector<float>(std::move(hf.pixels));
      py::capsule free_owner(owner, [](void* p) { delete static_cast<std::vector<float>*>(p); });
      py::array a(py::dtype::of<float>(), {hf.height, hf.width, hf.channels},
                  {static_cast<py::ssize_t>(hf.width) * hf.channels * 4,
                   static_cast<py::ssize_t>(hf.channels) * 4, py::ssize_t(4)},
                  owner->data(), free_owner);
      return py::make_tuple(a, py::make_tuple(hf.x, hf.y));
    });
    py::cpp_function py_progress([&progress, &cancelled](int done, int total) {
      py::gil_scoped_release release;
      if (!progress(done, total)) cancelled = true;
    });
    py::cpp_function py_cancel([&cancelled] { return cancelled; });
    // A cancel ends as engine.errors.Cancelled, which `guarded` turns into `Cancelled`.
    py::dict r =
        impl_->node.attr("analyze")(to_dict(values), frames, py_fetch, display_tuple(display),
                                    display.pixel_aspect, py_progress, py_cancel);
    AnalyzeResult res;
    res.digest = r["digest"].cast<std::string>();
    res.frames = r["frames"].cast<long>();
    res.tracked = r["tracked"].cast<long>();
    res.errors = r["errors"].cast<std::vector<std::string>>();
    if (r.contains("fit")) res.fit = r["fit"].cast<std::string>();  // issue 21
    if (r.contains("mouth_shape")) res.mouth_shape = r["mouth_shape"].cast<std::string>();
    if (r.contains("health")) res.health = r["health"].cast<std::string>();
    return res;
  });
}

std::string Node::send_to_farm(const Values& values, int first, int last) {
  return guarded([&] {
    return impl_->node.attr("send_to_farm")(to_dict(values), first, last).cast<std::string>();
  });
}

std::string Node::edit_track(const Values& values) {
  return guarded([&] {
    py::list cmd = impl_->node.attr("edit_track")(to_dict(values));
    std::string line;
    for (const auto& part : cmd) line += (line.empty() ? "" : " ") + part.cast<std::string>();
    return line;
  });
}

long Node::loads() {
  return guarded([&] { return impl_->node.attr("loads").cast<long>(); });
}

}  // namespace doppel::bridge
