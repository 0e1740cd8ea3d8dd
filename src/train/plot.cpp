// SVG charts. The document is built in one pass: frame and grid, tick labels, axis
// labels, the series in the order they were added, then the legend to the right of the
// plot area.
#include "recur/train/plot.hpp"

#include "recur/io/file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "recur/core/error.hpp"
#include "recur/io/file.hpp"

namespace recur::train {
namespace {

// Matplotlib's "tab10": ten colours that stay distinct from one another.
constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr std::int64_t kPaletteSize = 10;

const char* colour(std::int64_t index) { return kPalette[index % kPaletteSize]; }

// A pixel coordinate: a tenth of a pixel is finer than any screen shows.
std::string px(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

// The smallest and largest finite values seen; empty until one is.
struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

// Maps [first tick, last tick] onto pixels [p0, p1] (p0 > p1 for a y axis), linearly or, on
// a logarithmic axis, linearly in log10 of the value.
struct Scale {
  std::vector<double> ticks;
  double p0 = 0, p1 = 1;
  bool log = false;

  Scale(const Range& range, double pixel0, double pixel1, bool logarithmic = false)
      : ticks(logarithmic ? (range.empty() ? log_ticks(1, 10) : log_ticks(range.lo, range.hi))
                          : (range.empty() ? nice_ticks(0, 1) : nice_ticks(range.lo, range.hi))),
        p0(pixel0), p1(pixel1), log(logarithmic) {}
  double operator()(double v) const {
    if (log) return p0 + std::log10(v / ticks.front()) / std::log10(ticks.back() / ticks.front()) * (p1 - p0);
    return p0 + (v - ticks.front()) / (ticks.back() - ticks.front()) * (p1 - p0);
  }
  // Tick i's label: as many decimals as the step between ticks needs (on a logarithmic
  // axis, as the tick itself needs).
  std::string label(std::size_t i) const { return format_tick(ticks[i], log ? ticks[i] : ticks[1] - ticks[0]); }
};

// 1, 2, 5 or 10 times the power of ten below x > 0: the nearest such "nice" number.
double nice_step(double x) {
  double power = std::pow(10.0, std::floor(std::log10(x)));
  double fraction = x / power;
  double nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * power;
}

}  // namespace

std::string escape_markup(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' ? '?' : c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  RECUR_CHECK(count >= 2 && count <= 100, "nice_ticks: count must be in 2..100, got " << count);
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  // Keep hi - lo finite.
  lo = std::clamp(lo, -1e300, 1e300);
  hi = std::clamp(hi, -1e300, 1e300);
  if (lo > hi) std::swap(lo, hi);
  // An empty range (or one only rounding error wide) gets some room around its value.
  double magnitude = std::max(std::abs(lo), std::abs(hi));
  if (hi - lo <= 1e-12 * magnitude || hi - lo < std::numeric_limits<double>::min()) {
    double pad = magnitude > 0 ? 0.1 * magnitude : 1;
    lo -= pad;
    hi += pad;
  }
  double step = nice_step((hi - lo) / (count - 1));
  // Ticks as integer multiples of step, so they do not accumulate rounding error.
  double first = std::floor(lo / step), last = std::ceil(hi / step);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) ticks.push_back(k * step);
  return ticks;
}

std::string format_tick(double value, double step) {
  step = std::abs(step);
  if (std::abs(value) < step * 1e-6) value = 0;  // no "-0" or "1e-17" for zero
  // The fewest decimals that write the step exactly: 0.05 needs two, 2000 none.
  int decimals = 0;
  while (decimals <= 6 && step > 0) {
    double scaled = step * std::pow(10.0, decimals);
    if (std::abs(scaled - std::round(scaled)) <= 1e-6 * scaled) break;
    ++decimals;
  }
  char text[64];
  if (decimals > 6 || std::abs(value) >= 1e9) {
    std::snprintf(text, sizeof text, "%.4g", value);
  } else {
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
  }
  return text;
}

std::vector<double> log_ticks(double lo, double hi) {
  auto usable = [](double v) { return std::isfinite(v) && v > 0; };
  if (!usable(lo) || !usable(hi)) lo = 1, hi = 10;
  if (lo > hi) std::swap(lo, hi);
  lo = std::max(lo, 1e-300), hi = std::min(hi, 1e300);
  const int first = static_cast<int>(std::floor(std::log10(lo))), last = static_cast<int>(std::ceil(std::log10(hi)));
  const int decades = std::max(1, last - first);
  // Over a few decades 2 and 5 between the powers; over many, every `stride`-th power alone.
  const std::vector<double> mantissas = decades <= 3 ? std::vector<double>{1, 2, 5} : std::vector<double>{1};
  const int stride = decades <= 10 ? 1 : (decades + 9) / 10;
  std::vector<double> candidates;
  for (int k = first - ((first % stride) + stride) % stride; k <= last + stride; k += stride)
    for (double m : mantissas) candidates.push_back(m * std::pow(10.0, k));
  // From the last candidate <= lo to the first >= hi, and at least two of them.
  std::size_t begin = 0, end = candidates.size() - 1;
  while (begin + 2 < candidates.size() && candidates[begin + 1] <= lo) ++begin;
  while (end > begin + 1 && candidates[end - 1] >= hi) --end;
  return std::vector<double>(candidates.begin() + static_cast<std::ptrdiff_t>(begin),
                             candidates.begin() + static_cast<std::ptrdiff_t>(end) + 1);
}

Plot::Plot(std::string title) : title_(std::move(title)) {}

Plot& Plot::set_title(std::string title) {
  title_ = std::move(title);
  return *this;
}

Plot& Plot::set_x_label(std::string label) {
  x_label_ = std::move(label);
  return *this;
}

Plot& Plot::set_y_label(std::string label, Axis axis) {
  (axis == Axis::Left ? y_label_ : y2_label_) = std::move(label);
  return *this;
}

Plot& Plot::set_size(int width, int height) {
  RECUR_CHECK(width >= 200 && height >= 200,
              "Plot::set_size: " << width << " x " << height << " pixels is too small (each must be >= 200)");
  width_ = width;
  height_ = height;
  return *this;
}

Plot& Plot::set_log_y(bool log) {
  log_y_ = log;
  return *this;
}

Plot& Plot::add_line(std::string name, std::vector<double> xs, std::vector<double> ys, Axis axis, LineStyle style) {
  RECUR_CHECK(xs.size() == ys.size(), "Plot::add_line: line '" << name << "' has " << xs.size() << " x values but "
                                                               << ys.size() << " y values");
  RECUR_CHECK(style.colour >= -1, "Plot::add_line: line '" << name << "' has colour " << style.colour
                                                           << "; expected a palette index or -1");
  const int colour = style.colour >= 0 ? style.colour : next_colour_++;
  series_.push_back({Kind::Line, std::move(name), std::move(xs), std::move(ys), {}, axis, colour, style.dashed});
  return *this;
}

Plot& Plot::add_points(std::string name, std::vector<double> xs, std::vector<double> ys, Axis axis) {
  RECUR_CHECK(xs.size() == ys.size(), "Plot::add_points: points '" << name << "' have " << xs.size()
                                                                   << " x values but " << ys.size() << " y values");
  series_.push_back({Kind::Points, std::move(name), std::move(xs), std::move(ys), {}, axis, next_colour_++});
  return *this;
}

Plot& Plot::add_class_points(std::vector<double> xs, std::vector<double> ys, std::vector<std::int64_t> classes,
                             std::vector<std::string> class_names) {
  RECUR_CHECK(xs.size() == ys.size() && xs.size() == classes.size(),
              "Plot::add_class_points: " << xs.size() << " x values, " << ys.size() << " y values and "
                                         << classes.size() << " classes; expected one of each per point");
  auto negative = std::find_if(classes.begin(), classes.end(), [](std::int64_t c) { return c < 0; });
  RECUR_CHECK(negative == classes.end(), "Plot::add_class_points: class " << *negative << " of point "
                                                                          << negative - classes.begin()
                                                                          << " is negative");
  if (!class_names.empty()) class_names_ = std::move(class_names);
  series_.push_back({Kind::ClassPoints, "", std::move(xs), std::move(ys), std::move(classes), Axis::Left, 0});
  return *this;
}

std::vector<Plot::LegendEntry> Plot::legend() const {
  std::vector<LegendEntry> entries;
  for (const Series& s : series_) {
    if (s.kind != Kind::ClassPoints) {
      entries.push_back({s.name, s.colour, s.kind == Kind::Line, s.dashed});
      continue;
    }
    for (std::int64_t c : std::set<std::int64_t>(s.classes.begin(), s.classes.end())) {
      std::string name = c < static_cast<std::int64_t>(class_names_.size()) ? class_names_[c] : "class " + std::to_string(c);
      entries.push_back({name, static_cast<int>(c % kPaletteSize), false, false});
    }
  }
  return entries;
}

bool Plot::has_right_axis() const {
  return std::any_of(series_.begin(), series_.end(), [](const Series& s) { return s.axis == Axis::Right; });
}

bool Plot::drawable(const Series& s, std::size_t i) const {
  return std::isfinite(s.xs[i]) && std::isfinite(s.ys[i]) && (!log_y_ || s.axis != Axis::Left || s.ys[i] > 0);
}

Plot::Frame Plot::own_frame() const {
  Frame frame{.width = static_cast<double>(width_), .top = 0, .height = static_cast<double>(height_)};
  std::size_t longest_name = 0;
  const std::vector<LegendEntry> entries = legend();
  for (const LegendEntry& e : entries) longest_name = std::max(longest_name, e.name.size());
  // About 7 pixels a character at 12 px, after a 30-pixel marker.
  frame.legend_width = entries.empty() ? 0 : std::min(44.0 + 7.0 * static_cast<double>(longest_name), width_ / 3.0);
  frame.right_axis_room = has_right_axis();
  Range x_range;
  for (const Series& s : series_)
    for (std::size_t i = 0; i < s.xs.size(); ++i)
      if (drawable(s, i)) x_range.add(s.xs[i]);
  frame.x_lo = x_range.lo, frame.x_hi = x_range.hi;
  return frame;
}

std::string Plot::to_svg() const {
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width_ << "\" height=\"" << height_
      << "\" viewBox=\"0 0 " << width_ << " " << height_
      << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << width_ << "\" height=\"" << height_ << "\" fill=\"white\"/>\n";
  draw(svg, own_frame());
  svg << "</svg>\n";
  return svg.str();
}

void Plot::draw(std::ostream& svg, const Frame& frame) const {
  // ---- the plot area and the scales
  Range x_range, left_range, right_range;
  if (frame.x_lo <= frame.x_hi) x_range.add(frame.x_lo), x_range.add(frame.x_hi);
  for (const Series& s : series_) {
    Range& y_range = s.axis == Axis::Left ? left_range : right_range;
    for (std::size_t i = 0; i < s.xs.size(); ++i)
      if (drawable(s, i)) y_range.add(s.ys[i]);
  }
  const bool has_right = has_right_axis();
  double left = 75, right = frame.right_axis_room ? 75 : 25;
  double top = frame.top + (title_.empty() ? 20 : 45), bottom = 55;
  double x0 = left, x1 = frame.width - right - frame.legend_width, y0 = top, y1 = frame.top + frame.height - bottom;
  Scale x(x_range, x0, x1), y(left_range, y1, y0, log_y_), y2(right_range, y1, y0);

  if (!title_.empty()) {
    svg << "<text x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(frame.top + 28) << "\" text-anchor=\"middle\" "
        << "font-size=\"16\" font-weight=\"bold\">" << escape_markup(title_) << "</text>\n";
  }

  // ---- grid, frame, ticks and their labels
  svg << "<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n";
  for (double t : x.ticks) {
    svg << "<line x1=\"" << px(x(t)) << "\" y1=\"" << px(y0) << "\" x2=\"" << px(x(t)) << "\" y2=\"" << px(y1) << "\"/>\n";
  }
  for (double t : y.ticks) {
    svg << "<line x1=\"" << px(x0) << "\" y1=\"" << px(y(t)) << "\" x2=\"" << px(x1) << "\" y2=\"" << px(y(t)) << "\"/>\n";
  }
  svg << "</g>\n<rect x=\"" << px(x0) << "\" y=\"" << px(y0) << "\" width=\"" << px(x1 - x0) << "\" height=\""
      << px(y1 - y0) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  svg << "<g stroke=\"#333\">\n";
  for (double t : x.ticks) {
    svg << "<line x1=\"" << px(x(t)) << "\" y1=\"" << px(y1) << "\" x2=\"" << px(x(t)) << "\" y2=\"" << px(y1 + 5) << "\"/>\n";
  }
  for (double t : y.ticks) {
    svg << "<line x1=\"" << px(x0 - 5) << "\" y1=\"" << px(y(t)) << "\" x2=\"" << px(x0) << "\" y2=\"" << px(y(t)) << "\"/>\n";
  }
  if (has_right) {
    for (double t : y2.ticks) {
      svg << "<line x1=\"" << px(x1) << "\" y1=\"" << px(y2(t)) << "\" x2=\"" << px(x1 + 5) << "\" y2=\"" << px(y2(t))
          << "\"/>\n";
    }
  }
  svg << "</g>\n<g font-size=\"11\" fill=\"#333\">\n";
  for (std::size_t i = 0; i < x.ticks.size(); ++i) {
    svg << "<text x=\"" << px(x(x.ticks[i])) << "\" y=\"" << px(y1 + 18) << "\" text-anchor=\"middle\">" << x.label(i)
        << "</text>\n";
  }
  for (std::size_t i = 0; i < y.ticks.size(); ++i) {
    svg << "<text x=\"" << px(x0 - 8) << "\" y=\"" << px(y(y.ticks[i]) + 4) << "\" text-anchor=\"end\">" << y.label(i)
        << "</text>\n";
  }
  if (has_right) {
    for (std::size_t i = 0; i < y2.ticks.size(); ++i) {
      svg << "<text x=\"" << px(x1 + 8) << "\" y=\"" << px(y2(y2.ticks[i]) + 4) << "\" text-anchor=\"start\">"
          << y2.label(i) << "</text>\n";
    }
  }
  svg << "</g>\n";

  // ---- axis labels
  if (!x_label_.empty()) {
    svg << "<text x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(y1 + 42) << "\" text-anchor=\"middle\">"
        << escape_markup(x_label_) << "</text>\n";
  }
  if (!y_label_.empty()) {
    svg << "<text transform=\"translate(" << px(x0 - 58) << " " << px((y0 + y1) / 2)
        << ") rotate(-90)\" text-anchor=\"middle\">" << escape_markup(y_label_) << "</text>\n";
  }
  if (!y2_label_.empty() && has_right) {
    svg << "<text transform=\"translate(" << px(x1 + 58) << " " << px((y0 + y1) / 2)
        << ") rotate(90)\" text-anchor=\"middle\">" << escape_markup(y2_label_) << "</text>\n";
  }

  // ---- the series, in the order they were added
  for (const Series& s : series_) {
    const Scale& ys = s.axis == Axis::Left ? y : y2;
    auto finite = [&](std::size_t i) { return drawable(s, i); };
    if (s.kind == Kind::Line) {
      // One path; a skipped value ends a run of points, and the next drawn one starts a
      // new run ("M"). A run of a single point is drawn as a dot.
      std::ostringstream path, dots;
      std::size_t n = s.xs.size();
      for (std::size_t i = 0; i < n; ++i) {
        if (!finite(i)) continue;
        bool starts = i == 0 || !finite(i - 1), ends = i + 1 == n || !finite(i + 1);
        if (starts && ends) {
          dots << "<circle cx=\"" << px(x(s.xs[i])) << "\" cy=\"" << px(ys(s.ys[i])) << "\" r=\"2\"/>\n";
          continue;
        }
        path << (starts ? (path.tellp() > 0 ? " M" : "M") : " L") << px(x(s.xs[i])) << " " << px(ys(s.ys[i]));
      }
      if (path.tellp() > 0) {
        svg << "<path d=\"" << path.str() << "\" fill=\"none\" stroke=\"" << colour(s.colour)
            << "\" stroke-width=\"1.5\" stroke-linejoin=\"round\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "")
            << "/>\n";
      }
      if (dots.tellp() > 0) svg << "<g fill=\"" << colour(s.colour) << "\">\n" << dots.str() << "</g>\n";
    } else if (s.kind == Kind::Points) {
      svg << "<g fill=\"" << colour(s.colour) << "\">\n";
      for (std::size_t i = 0; i < s.xs.size(); ++i) {
        if (finite(i)) svg << "<circle cx=\"" << px(x(s.xs[i])) << "\" cy=\"" << px(ys(s.ys[i])) << "\" r=\"3\"/>\n";
      }
      svg << "</g>\n";
    } else {
      // One group per class, so each point's colour is written once per class.
      for (std::int64_t c : std::set<std::int64_t>(s.classes.begin(), s.classes.end())) {
        svg << "<g fill=\"" << colour(c) << "\" fill-opacity=\"0.7\">\n";
        for (std::size_t i = 0; i < s.xs.size(); ++i) {
          if (s.classes[i] == c && finite(i)) {
            svg << "<circle cx=\"" << px(x(s.xs[i])) << "\" cy=\"" << px(ys(s.ys[i])) << "\" r=\"2\"/>\n";
          }
        }
        svg << "</g>\n";
      }
    }
  }

  // ---- legend, to the right of the plot area (and of the right axis)
  const std::vector<LegendEntry> entries = legend();
  if (!entries.empty()) {
    double lx = frame.width - frame.legend_width + 8, ly = y0 + 10;
    svg << "<g>\n";
    for (const LegendEntry& e : entries) {
      if (e.is_line) {
        svg << "<line x1=\"" << px(lx) << "\" y1=\"" << px(ly) << "\" x2=\"" << px(lx + 22) << "\" y2=\"" << px(ly)
            << "\" stroke=\"" << colour(e.colour) << "\" stroke-width=\"2\""
            << (e.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
      } else {
        svg << "<circle cx=\"" << px(lx + 11) << "\" cy=\"" << px(ly) << "\" r=\"4\" fill=\"" << colour(e.colour)
            << "\"/>\n";
      }
      svg << "<text x=\"" << px(lx + 30) << "\" y=\"" << px(ly + 4) << "\">" << escape_markup(e.name) << "</text>\n";
      ly += 20;
    }
    svg << "</g>\n";
  }
}

void Plot::save(const std::string& path) const {
  try {
    io::write_file_atomically(path, to_svg());
  } catch (const Error& e) {
    RECUR_FAIL("Plot::save: " << e.what());
  }
}

Figure::Figure(std::string title) : title_(std::move(title)) {}

Figure& Figure::add_panel(Plot plot) {
  panels_.push_back(std::move(plot));
  return *this;
}

std::string Figure::to_svg() const {
  // The panels' shared frame: the widest panel, the widest legend, the union of the x values.
  const double title_height = title_.empty() ? 0 : 30;
  Plot::Frame shared{.width = 200, .top = title_height};
  double height = title_height;
  Range x_range;
  for (const Plot& panel : panels_) {
    const Plot::Frame own = panel.own_frame();
    shared.width = std::max(shared.width, own.width);
    shared.legend_width = std::max(shared.legend_width, own.legend_width);
    shared.right_axis_room |= own.right_axis_room;
    if (own.x_lo <= own.x_hi) x_range.add(own.x_lo), x_range.add(own.x_hi);
    height += own.height;
  }
  shared.x_lo = x_range.lo, shared.x_hi = x_range.hi;
  height = std::max(height, 200.0);
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << shared.width << "\" height=\"" << height
      << "\" viewBox=\"0 0 " << shared.width << " " << height
      << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << shared.width << "\" height=\"" << height << "\" fill=\"white\"/>\n";
  if (!title_.empty()) {
    svg << "<text x=\"" << px(shared.width / 2) << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\" "
        << "font-weight=\"bold\">" << escape_markup(title_) << "</text>\n";
  }
  for (const Plot& panel : panels_) {
    Plot::Frame frame = shared;
    frame.height = panel.own_frame().height;
    svg << "<g>\n";
    panel.draw(svg, frame);
    svg << "</g>\n";
    shared.top += frame.height;
  }
  svg << "</svg>\n";
  return svg.str();
}

void Figure::save(const std::string& path) const {
  try {
    io::write_file_atomically(path, to_svg());
  } catch (const Error& e) {
    RECUR_FAIL("Figure::save: " << e.what());
  }
}

std::string attention_svg(const std::vector<std::string>& source, const std::vector<std::string>& target,
                          const std::vector<std::vector<float>>& weights, const std::string& title) {
  RECUR_CHECK(weights.size() == target.size(), "attention_svg: " << weights.size() << " rows of weights for "
                                                                  << target.size() << " target tokens");
  for (const std::vector<float>& row : weights)
    RECUR_CHECK(row.size() == source.size(), "attention_svg: a row of " << row.size() << " weights for "
                                                                        << source.size() << " source tokens");
  const double cell = 28, left = 90, top = 70 + (title.empty() ? 0 : 20);
  const double width = left + cell * static_cast<double>(source.size()) + 20;
  const double height = top + cell * static_cast<double>(target.size()) + 20;
  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << px(width) << "\" height=\"" << px(height)
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!title.empty())
    svg << "<text x=\"" << px(width / 2) << "\" y=\"20\" text-anchor=\"middle\" font-weight=\"bold\">"
        << escape_markup(title) << "</text>\n";
  for (std::size_t s = 0; s < source.size(); ++s) {  // source tokens across the top, turned
    const double x = left + cell * (static_cast<double>(s) + 0.5);
    svg << "<text transform=\"translate(" << px(x + 4) << "," << px(top - 6) << ") rotate(-60)\">"
        << escape_markup(source[s]) << "</text>\n";
  }
  for (std::size_t t = 0; t < target.size(); ++t) {
    const double y = top + cell * static_cast<double>(t);
    svg << "<text x=\"" << px(left - 6) << "\" y=\"" << px(y + cell / 2 + 4) << "\" text-anchor=\"end\">"
        << escape_markup(target[t]) << "</text>\n";
    for (std::size_t s = 0; s < source.size(); ++s) {
      const double w = std::clamp(static_cast<double>(weights[t][s]), 0.0, 1.0);
      const double x = left + cell * static_cast<double>(s);
      // From white to #08306b (a dark blue) as w goes from 0 to 1.
      auto shade = [w](int dark) { return static_cast<int>(std::lround(255 + (dark - 255) * w)); };
      svg << "<rect x=\"" << px(x) << "\" y=\"" << px(y) << "\" width=\"" << px(cell) << "\" height=\"" << px(cell)
          << "\" fill=\"rgb(" << shade(8) << "," << shade(48) << "," << shade(107) << ")\" stroke=\"#ddd\"/>\n";
      if (w >= 0.1)
        svg << "<text x=\"" << px(x + cell / 2) << "\" y=\"" << px(y + cell / 2 + 4)
            << "\" text-anchor=\"middle\" font-size=\"9\" fill=\"" << (w > 0.5 ? "white" : "black") << "\">"
            << format_tick(w, 0.01) << "</text>\n";
    }
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace recur::train
