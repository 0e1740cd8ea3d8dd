// Charts as standalone SVG text, with no dependencies: training curves (loss on the left
// axis, accuracy on an optional right axis, against iterations), scatter plots coloured
// by class, and data points with a fitted curve over them; panels of them stacked over one
// x axis (Figure); and attention heatmaps.
//
//   train::Plot plot("LeNet on Fashion-MNIST");
//   plot.set_x_label("iteration").set_y_label("train loss").set_y_label("test accuracy", train::Axis::Right);
//   plot.add_line("train loss", iterations, losses);
//   plot.add_line("test accuracy", test_iterations, accuracies, train::Axis::Right);
//   plot.save("lenet.svg");
//
// Non-finite values (NaN, ±inf) are skipped: a line breaks where one was; so are values <= 0
// on a logarithmic axis. Empty series and empty plots draw empty axes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace recur::train {

// Which y axis a series is drawn against. The right axis appears only when a series uses it.
enum class Axis { Left, Right };

// About `count` evenly spaced round tick values (steps of 1, 2 or 5 times a power of ten)
// whose first is <= lo and last >= hi. Swaps lo and hi if needed, widens an empty range
// (lo == hi) around its value, treats non-finite bounds as the range [0, 1] and clamps
// bounds to +-1e300. Requires 2 <= count <= 100.
std::vector<double> nice_ticks(double lo, double hi, int count = 6);

// A tick label: `value` with as many decimals as `step` needs ("0.25" for step 0.05,
// "2000" for step 1000), no "-0"; past 6 decimals or 1e9 in size, 4 significant digits.
std::string format_tick(double value, double step);

// Ticks for a logarithmic axis: 1, 2 and 5 times powers of ten over a range of up to three
// decades, powers of ten alone over more (every second, fifth... past ten of them); the first
// <= lo, the last >= hi, at least two. Swaps lo and hi if needed; treats bounds that are not
// positive and finite as the range [1, 10].
std::vector<double> log_ticks(double lo, double hi);

// How a line is drawn: solid or dashed, in the next colour of the palette or a chosen one
// (a palette index, so that related lines, a run's training and validation loss, share one).
struct LineStyle {
  bool dashed = false;
  int colour = -1;  // -1: the next unused palette colour
};

// `text` safe inside an element or a quoted attribute of XML (SVG) or HTML: & < > " ' as
// character references, and control characters other than tab and newline, which XML 1.0
// does not allow at all, as '?'.
std::string escape_markup(std::string_view text);

class Plot {
 public:
  explicit Plot(std::string title = "");

  Plot& set_title(std::string title);
  Plot& set_x_label(std::string label);
  Plot& set_y_label(std::string label, Axis axis = Axis::Left);
  Plot& set_size(int width, int height);  // in pixels, each >= 200; default 800 x 500
  // A logarithmic left axis (log_ticks); its values <= 0 are skipped.
  Plot& set_log_y(bool log = true);

  // A line through (xs[i], ys[i]) in order, named in the legend. Requires xs and ys of
  // one length, and style.colour >= -1.
  Plot& add_line(std::string name, std::vector<double> xs, std::vector<double> ys, Axis axis = Axis::Left,
                 LineStyle style = {});
  // Unconnected points of one colour, named in the legend (e.g. data under a fitted line).
  Plot& add_points(std::string name, std::vector<double> xs, std::vector<double> ys, Axis axis = Axis::Left);
  // Points coloured by class, against the left axis; the legend lists each class present
  // by class_names[c], or "class c" past the end of class_names. Requires xs, ys and
  // classes of one length and classes >= 0.
  Plot& add_class_points(std::vector<double> xs, std::vector<double> ys, std::vector<std::int64_t> classes,
                         std::vector<std::string> class_names = {});

  // The whole chart as an SVG document.
  std::string to_svg() const;
  // Writes to_svg() to `path` atomically (io::write_file_atomically: the old file stays whole
  // until the new one is complete). Throws recur::Error naming the path on failure.
  void save(const std::string& path) const;

 private:
  friend class Figure;
  enum class Kind { Line, Points, ClassPoints };
  struct Series {
    Kind kind = Kind::Line;
    std::string name;
    std::vector<double> xs, ys;
    std::vector<std::int64_t> classes;  // ClassPoints only
    Axis axis = Axis::Left;
    int colour = 0;  // palette index (ClassPoints: per point, by class)
    bool dashed = false;
  };
  struct LegendEntry {
    std::string name;
    int colour = 0;  // palette index
    bool is_line = false, dashed = false;
  };
  // Where draw() puts the chart, and what a Figure's panels share: the x extent (from
  // x_lo to x_hi; x_lo > x_hi: no values) and the room on the right.
  struct Frame {
    double width = 0, top = 0, height = 0;  // the chart's band of the document
    double legend_width = 0;
    bool right_axis_room = false;
    double x_lo = 0, x_hi = -1;
  };

  std::vector<LegendEntry> legend() const;
  bool has_right_axis() const;
  // Whether point i of `s` is drawn: finite, and positive on a logarithmic axis.
  bool drawable(const Series& s, std::size_t i) const;
  // This plot alone, at its own size.
  Frame own_frame() const;
  // The chart's elements (everything inside the <svg> element) in `frame`.
  void draw(std::ostream& svg, const Frame& frame) const;

  std::string title_, x_label_, y_label_, y2_label_;
  int width_ = 800, height_ = 500;
  bool log_y_ = false;
  std::vector<Series> series_;
  std::vector<std::string> class_names_;
  int next_colour_ = 0;
};

// Plots stacked one above another in one SVG document, sharing the x axis: every panel
// spans the x values of all of them, at the same pixels, with the same room on the right
// for the legends. A panel keeps its own title (drawn over it), labels, series and height;
// the figure is as wide as its widest panel.
//
//   train::Figure figure("recur: tinyshakespeare");
//   figure.add_panel(losses).add_panel(optimizer);
//   figure.save("loss.svg");
class Figure {
 public:
  explicit Figure(std::string title = "");
  // Adds `plot` below the panels there are.
  Figure& add_panel(Plot plot);
  // The whole figure as an SVG document.
  std::string to_svg() const;
  // Writes to_svg() to `path` atomically, as Plot::save does.
  void save(const std::string& path) const;

 private:
  std::string title_;
  std::vector<Plot> panels_;
};

// An encoder-decoder's attention as a standalone SVG heatmap: the source tokens across, the
// target tokens down, cell (t, s) shaded from white (0) to dark blue (1) by weights[t][s], the
// weight printed in cells of at least 0.1. Requires weights.size() == target.size() and every
// row of source.size() values (checked).
std::string attention_svg(const std::vector<std::string>& source, const std::vector<std::string>& target,
                          const std::vector<std::vector<float>>& weights, const std::string& title = "");

}  // namespace recur::train
