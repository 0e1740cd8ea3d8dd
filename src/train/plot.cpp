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

// Text safe inside an XML element or a quoted attribute. Control characters other than
// tab and newline are not allowed in XML 1.0 at all; they become '?'.
std::string escape(const std::string& text) {
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

// Maps [first tick, last tick] linearly onto pixels [p0, p1] (p0 > p1 for a y axis).
struct Scale {
  std::vector<double> ticks;
  double p0 = 0, p1 = 1;

  Scale(const Range& range, double pixel0, double pixel1)
      : ticks(range.empty() ? nice_ticks(0, 1) : nice_ticks(range.lo, range.hi)), p0(pixel0), p1(pixel1) {}
  double operator()(double v) const {
    return p0 + (v - ticks.front()) / (ticks.back() - ticks.front()) * (p1 - p0);
  }
  double step() const { return ticks[1] - ticks[0]; }
};

// 1, 2, 5 or 10 times the power of ten below x > 0: the nearest such "nice" number.
double nice_step(double x) {
  double power = std::pow(10.0, std::floor(std::log10(x)));
  double fraction = x / power;
  double nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  return nice * power;
}

struct LegendEntry {
  std::string name;
  const char* colour;
  bool is_line;
};

}  // namespace

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

Plot& Plot::add_line(std::string name, std::vector<double> xs, std::vector<double> ys, Axis axis) {
  RECUR_CHECK(xs.size() == ys.size(), "Plot::add_line: line '" << name << "' has " << xs.size() << " x values but "
                                                               << ys.size() << " y values");
  series_.push_back({Kind::Line, std::move(name), std::move(xs), std::move(ys), {}, axis, next_colour_++});
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

std::string Plot::to_svg() const {
  // ---- what the legend lists, which sets how much room it takes on the right
  std::vector<LegendEntry> legend;
  bool has_right_axis = false;
  Range x_range, left_range, right_range;
  for (const Series& s : series_) {
    has_right_axis |= s.axis == Axis::Right;
    Range& y_range = s.axis == Axis::Left ? left_range : right_range;
    for (std::size_t i = 0; i < s.xs.size(); ++i) {
      if (!std::isfinite(s.xs[i]) || !std::isfinite(s.ys[i])) continue;
      x_range.add(s.xs[i]);
      y_range.add(s.ys[i]);
    }
    if (s.kind != Kind::ClassPoints) {
      legend.push_back({s.name, colour(s.colour), s.kind == Kind::Line});
      continue;
    }
    for (std::int64_t c : std::set<std::int64_t>(s.classes.begin(), s.classes.end())) {
      std::string name = c < static_cast<std::int64_t>(class_names_.size()) ? class_names_[c] : "class " + std::to_string(c);
      legend.push_back({name, colour(c), false});
    }
  }
  std::size_t longest_name = 0;
  for (const LegendEntry& e : legend) longest_name = std::max(longest_name, e.name.size());
  // About 7 pixels a character at 12 px, after a 30-pixel marker.
  double legend_width = legend.empty() ? 0 : std::min(44.0 + 7.0 * static_cast<double>(longest_name), width_ / 3.0);

  // ---- the plot area and the scales
  double left = 75, right = has_right_axis ? 75 : 25;
  double top = title_.empty() ? 20 : 45, bottom = 55;
  double x0 = left, x1 = width_ - right - legend_width, y0 = top, y1 = height_ - bottom;
  Scale x(x_range, x0, x1), y(left_range, y1, y0), y2(right_range, y1, y0);

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width_ << "\" height=\"" << height_
      << "\" viewBox=\"0 0 " << width_ << " " << height_
      << "\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << width_ << "\" height=\"" << height_ << "\" fill=\"white\"/>\n";
  if (!title_.empty()) {
    svg << "<text x=\"" << px((x0 + x1) / 2) << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
        << "font-weight=\"bold\">" << escape(title_) << "</text>\n";
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
  if (has_right_axis) {
    for (double t : y2.ticks) {
      svg << "<line x1=\"" << px(x1) << "\" y1=\"" << px(y2(t)) << "\" x2=\"" << px(x1 + 5) << "\" y2=\"" << px(y2(t))
          << "\"/>\n";
    }
  }
  svg << "</g>\n<g font-size=\"11\" fill=\"#333\">\n";
  for (double t : x.ticks) {
    svg << "<text x=\"" << px(x(t)) << "\" y=\"" << px(y1 + 18) << "\" text-anchor=\"middle\">"
        << format_tick(t, x.step()) << "</text>\n";
  }
  for (double t : y.ticks) {
    svg << "<text x=\"" << px(x0 - 8) << "\" y=\"" << px(y(t) + 4) << "\" text-anchor=\"end\">"
        << format_tick(t, y.step()) << "</text>\n";
  }
  if (has_right_axis) {
    for (double t : y2.ticks) {
      svg << "<text x=\"" << px(x1 + 8) << "\" y=\"" << px(y2(t) + 4) << "\" text-anchor=\"start\">"
          << format_tick(t, y2.step()) << "</text>\n";
    }
  }
  svg << "</g>\n";

  // ---- axis labels
  if (!x_label_.empty()) {
    svg << "<text x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(y1 + 42) << "\" text-anchor=\"middle\">"
        << escape(x_label_) << "</text>\n";
  }
  if (!y_label_.empty()) {
    svg << "<text transform=\"translate(" << px(x0 - 58) << " " << px((y0 + y1) / 2)
        << ") rotate(-90)\" text-anchor=\"middle\">" << escape(y_label_) << "</text>\n";
  }
  if (!y2_label_.empty() && has_right_axis) {
    svg << "<text transform=\"translate(" << px(x1 + 58) << " " << px((y0 + y1) / 2)
        << ") rotate(90)\" text-anchor=\"middle\">" << escape(y2_label_) << "</text>\n";
  }

  // ---- the series, in the order they were added
  for (const Series& s : series_) {
    const Scale& ys = s.axis == Axis::Left ? y : y2;
    auto finite = [&](std::size_t i) { return std::isfinite(s.xs[i]) && std::isfinite(s.ys[i]); };
    if (s.kind == Kind::Line) {
      // One path; a non-finite value ends a run of points, and the next finite one starts
      // a new run ("M"). A run of a single point is drawn as a dot.
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
            << "\" stroke-width=\"1.5\" stroke-linejoin=\"round\"/>\n";
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
  if (!legend.empty()) {
    double lx = width_ - legend_width + 8, ly = y0 + 10;
    svg << "<g>\n";
    for (const LegendEntry& e : legend) {
      if (e.is_line) {
        svg << "<line x1=\"" << px(lx) << "\" y1=\"" << px(ly) << "\" x2=\"" << px(lx + 22) << "\" y2=\"" << px(ly)
            << "\" stroke=\"" << e.colour << "\" stroke-width=\"2\"/>\n";
      } else {
        svg << "<circle cx=\"" << px(lx + 11) << "\" cy=\"" << px(ly) << "\" r=\"4\" fill=\"" << e.colour << "\"/>\n";
      }
      svg << "<text x=\"" << px(lx + 30) << "\" y=\"" << px(ly + 4) << "\">" << escape(e.name) << "</text>\n";
      ly += 20;
    }
    svg << "</g>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

void Plot::save(const std::string& path) const {
  try {
    io::write_file_atomically(path, to_svg());
  } catch (const Error& e) {
    RECUR_FAIL("Plot::save: " << e.what());
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
        << escape(title) << "</text>\n";
  for (std::size_t s = 0; s < source.size(); ++s) {  // source tokens across the top, turned
    const double x = left + cell * (static_cast<double>(s) + 0.5);
    svg << "<text transform=\"translate(" << px(x + 4) << "," << px(top - 6) << ") rotate(-60)\">"
        << escape(source[s]) << "</text>\n";
  }
  for (std::size_t t = 0; t < target.size(); ++t) {
    const double y = top + cell * static_cast<double>(t);
    svg << "<text x=\"" << px(left - 6) << "\" y=\"" << px(y + cell / 2 + 4) << "\" text-anchor=\"end\">"
        << escape(target[t]) << "</text>\n";
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
