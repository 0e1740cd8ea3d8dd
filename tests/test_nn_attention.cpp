// nn::Attention (additive, dot, general): names and shapes, float64 gradchecks through the
// query, the keys and every parameter, masking (padding never matters, a source's result is
// its own whatever its batch-mates), agreement with the equations written in PyTorch
// (tests/fixtures/conformance_attention.safetensors, made by
// tests/conformance/make_attention_fixture.py), the fused read without a graph against the
// graph and the fixtures, and errors.

#include "conformance/conformance.hpp"
#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::ElementsAre;

namespace {

const nn::AttentionKind kKinds[] = {nn::AttentionKind::Additive, nn::AttentionKind::Dot, nn::AttentionKind::General};

nn::Attention make(nn::AttentionKind kind) {
  return nn::Attention(kind, kind == nn::AttentionKind::Dot ? 8 : 6, 8, 5);
}

Tensor lengths_of(const std::vector<std::int64_t>& values) {
  return from_vector(values, {static_cast<std::int64_t>(values.size())});
}

}  // namespace

TEST(Attention, NamesShapesAndKinds) {
  EXPECT_THAT(parameter_names(nn::Attention(nn::AttentionKind::Additive, 6, 8, 5)),
              ElementsAre("query_proj.weight", "key_proj.weight", "v.weight"));
  nn::Attention additive(nn::AttentionKind::Additive, 6, 8, 5);
  EXPECT_EQ(additive.query_proj->weight.shape(), (Shape{5, 6}));
  EXPECT_EQ(additive.key_proj->weight.shape(), (Shape{5, 8}));
  EXPECT_EQ(additive.v->weight.shape(), (Shape{1, 5}));
  EXPECT_THAT(parameter_names(nn::Attention(nn::AttentionKind::General, 6, 8)), ElementsAre("query_proj.weight"));
  EXPECT_EQ(nn::Attention(nn::AttentionKind::General, 6, 8).query_proj->weight.shape(), (Shape{8, 6}));
  EXPECT_TRUE(parameter_names(nn::Attention(nn::AttentionKind::Dot, 8, 8)).empty());
  for (nn::AttentionKind kind : kKinds) EXPECT_EQ(nn::parse_attention(nn::attention_name(kind)), kind);
  EXPECT_EQ(nn::parse_attention("additive"), nn::AttentionKind::Additive);
  EXPECT_EQ(additive.extra_repr(), "bahdanau, query=6, key=8, hidden=5");
}

TEST(Attention, GradcheckThroughQueryKeysAndParameters) {
  for (nn::AttentionKind kind : kKinds) {
    SCOPED_TRACE(nn::attention_name(kind));
    nn::Attention m = make(kind);
    m.to(DType::Float64);
    const Tensor lengths = lengths_of({4, 2, 3});
    std::vector<Tensor> inputs{random_leaf({4, 3, 8}, 21), random_leaf({3, m.query_size}, 22)};
    for (const Tensor& p : m.parameters()) inputs.push_back(p);
    for (bool weights : {false, true})
      expect_gradcheck(
          [&](const std::vector<Tensor>& in) {
            nn::AttentionOutput a = m.forward(in[1], m.prepare(in[0], lengths));
            return weights ? a.weights : a.context;
          },
          inputs);
  }
}

TEST(Attention, PaddingNeverMattersAndBatchMatesDoNot) {
  for (nn::AttentionKind kind : kKinds) {
    SCOPED_TRACE(nn::attention_name(kind));
    nn::Attention m = make(kind);
    Tensor outputs = randn32({5, 3, 8}, 31), query = randn32({3, m.query_size}, 32);
    const Tensor lengths = lengths_of({5, 2, 3});
    nn::AttentionOutput a = m.forward(query, m.prepare(outputs, lengths));
    // Weights: 0 past each length, summing to 1 before it.
    const std::vector<float> w = a.weights.to_vector<float>();
    for (std::int64_t b = 0; b < 3; ++b) {
      double total = 0;
      for (std::int64_t s = 0; s < 5; ++s) {
        if (s >= lengths.to_vector<std::int64_t>()[b]) {
          EXPECT_EQ(w[b * 5 + s], 0.0f) << "b " << b << " s " << s;
        }
        total += w[b * 5 + s];
      }
      EXPECT_NEAR(total, 1.0, 1e-6);
    }
    // Other values in the padding: the same results, exactly.
    Tensor changed = clone(outputs);
    {
      NoGradGuard no_grad;
      fill_(narrow(narrow(changed, 0, 2, 3), 1, 1, 1), 1e4);
    }
    nn::AttentionOutput b = m.forward(query, m.prepare(changed, lengths));
    EXPECT_EQ(b.context.to_vector<float>(), a.context.to_vector<float>());
    EXPECT_EQ(b.weights.to_vector<float>(), a.weights.to_vector<float>());
    // Source 1 alone, cut to its length: the same context as in the batch.
    nn::AttentionOutput alone =
        m.forward(narrow(query, 0, 1, 1), m.prepare(narrow(narrow(outputs, 1, 1, 1), 0, 0, 2), lengths_of({2})));
    expect_close(alone.context, narrow(a.context, 0, 1, 1), 1e-6);
  }
}

// Without a graph, forward runs the fused attention_read_: the same numbers as the ops'
// graph, for every kind and dtype, also when several query rows read one source's keys.
TEST(Attention, TheFusedReadEqualsTheGraph) {
  for (nn::AttentionKind kind : kKinds)
    for (DType dtype : {DType::Float32, DType::Float64}) {
      SCOPED_TRACE(std::string(nn::attention_name(kind)) + " " + dtype_name(dtype));
      nn::Attention m = make(kind);
      m.to(dtype);
      const Tensor outputs = to_dtype(randn32({5, 3, 8}, 41), dtype);
      const Tensor query = leaf(to_dtype(randn32({6, m.query_size}, 42), dtype));
      nn::AttentionKeys keys = m.prepare(outputs, lengths_of({5, 2, 3}));
      keys.sources = from_vector(std::vector<std::int64_t>{2, 0, 2, 1, 0, 1}, {6});
      const nn::AttentionOutput graph = m.forward(query, keys);
      ASSERT_TRUE(graph.context.requires_grad());
      NoGradGuard no_grad;
      const nn::AttentionOutput fused = m.forward(query, keys);
      const double tol = dtype == DType::Float32 ? 2e-6 : 1e-13;
      expect_close(fused.context, graph.context, tol);
      expect_close(fused.weights, graph.weights, tol);
      // Row 3 reads source 1, whose padding weighs exactly 0.
      const std::vector<double> w = to_dtype(fused.weights, DType::Float64).to_vector<double>();
      EXPECT_EQ(w[3 * 5 + 2], 0.0);
      EXPECT_GT(w[3 * 5 + 1], 0.0);
      // Row by row with each source's keys given alone: the same rows.
      const Tensor rows = from_vector(std::vector<std::int64_t>{4, 3, 0}, {3});  // reading sources 0, 1, 2
      const nn::AttentionOutput direct =
          m.forward(index_select(query, 0, rows), m.prepare(outputs, lengths_of({5, 2, 3})));
      expect_close(index_select(fused.context, 0, rows), direct.context, tol);
    }
}

TEST(Attention, TheFusedReadChecksItsOperands) {
  NoGradGuard no_grad;
  const Tensor q = zeros({4, 6}), keys = zeros({2, 5, 6}), mask = zeros({2, 5});
  const Tensor context = empty({4, 6}), weights = empty({4, 5});
  const Tensor sources = from_vector(std::vector<std::int64_t>{0, 1, 1, 0}, {4});
  attention_read_(context, weights, q, keys, Tensor(), Tensor(), mask, sources);  // valid
  expect_error([&] { attention_read_(context, weights, q, keys, Tensor(), Tensor(), mask); },
               {"attention_read_", "4 query rows over 2 rows of keys need sources"});
  expect_error([&] {
    attention_read_(context, weights, q, keys, Tensor(), Tensor(), mask,
                    from_vector(std::vector<std::int64_t>{0, 2, 1, 0}, {4}));
  }, {"source 2 is outside [0, 2)"});
  expect_error([&] { attention_read_(context, weights, q, keys, zeros({2, 5, 5}), zeros({6}), mask, sources); },
               {"projected keys must be (2, 5, 6)"});
  expect_error([&] { attention_read_(context, weights, zeros({4, 5}), keys, Tensor(), Tensor(), mask, sources); },
               {"the query's 5 features must match the keys' 6"});
  expect_error([&] { attention_read_(empty({4, 5}), weights, q, keys, Tensor(), Tensor(), mask, sources); },
               {"context must be (4, 6)"});
  expect_error([&] { attention_read_(context, weights, q, keys, Tensor(), Tensor(), zeros({2, 4}), sources); },
               {"the mask must be (2, 5)"});
  expect_error([&] { attention_read_(context, weights, q, keys, Tensor(), Tensor(), mask, context); },
               {"sources must be int64"});
}

TEST(Attention, MatchesTheEquationsInPyTorch) {
  const std::vector<conformance::Case> cases = conformance::load_cases("attention");
  ASSERT_EQ(cases.size(), 6u);
  for (const conformance::Case& c : cases) {
    SCOPED_TRACE(c.name);
    nn::Attention m(nn::parse_attention(c.config["kind"]), c.config["query_size"], c.config["key_size"],
                    c.config["hidden_size"]);
    if (c.is_f64()) m.to(DType::Float64);
    TensorMap state;
    for (const std::string& name : parameter_names(m)) state[name] = c.at(name);
    m.load_state_dict(state, /*strict=*/true);
    Tensor outputs = conformance::leaf(c.at("outputs")), query = conformance::leaf(c.at("query"));
    nn::AttentionOutput a = m.forward(query, m.prepare(outputs, c.at("lengths")));
    conformance::expect_matches(a.context, c.at("context"), c.tolerance(), "context");
    conformance::expect_matches(a.weights, c.at("weights"), c.tolerance(), "weights");
    {
      NoGradGuard no_grad;  // the fused read
      nn::AttentionOutput fused = m.forward(query, m.prepare(outputs, c.at("lengths")));
      conformance::expect_matches(fused.context, c.at("context"), c.tolerance(), "fused context");
      conformance::expect_matches(fused.weights, c.at("weights"), c.tolerance(), "fused weights");
    }
    add(sum(mul(a.context, c.at("grad_context"))), sum(mul(a.weights, c.at("grad_weights")))).backward();
    conformance::expect_matches(query.grad(), c.at("grad_query"), c.tolerance(), "grad_query");
    conformance::expect_matches(outputs.grad(), c.at("grad_outputs"), c.tolerance(), "grad_outputs");
    for (const nn::NamedTensor& p : m.named_parameters())
      conformance::expect_matches(p.tensor.grad(), c.at("grad_" + p.name), c.tolerance(), "grad_" + p.name);
  }
}

TEST(Attention, Errors) {
  expect_error([] { nn::parse_attention("luong"); }, {"unknown attention 'luong' (expected bahdanau, dot or general)"});
  expect_error([] { nn::Attention(nn::AttentionKind::Dot, 6, 8); }, {"query size 6 must equal the key size 8"});
  expect_error([] { nn::Attention(nn::AttentionKind::Additive, 6, 8, 0); }, {"hidden size must be at least 1"});
  nn::Attention m = make(nn::AttentionKind::General);
  const Tensor outputs = zeros({4, 2, 8});
  expect_error([&] { m.prepare(outputs, lengths_of({4, 5})); }, {"length 5 of source 1 is outside [1, 4]"});
  expect_error([&] { m.prepare(zeros({4, 2, 7}), lengths_of({4, 4})); }, {"keys must be (steps, batch, 8)"});
  expect_error([&] { m.forward(zeros({2, 5}), m.prepare(outputs, lengths_of({4, 4}))); }, {"the query must be (2, 6)"});
}
