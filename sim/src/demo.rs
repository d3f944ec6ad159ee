//! Starts every simulator for the demo and the benchmarks and writes the matching config.

use super::SimServer;

/// The running simulators and the YAML config that points the exporter at them.
pub struct DemoSims {
    /// Servers, kept alive as long as this value lives.
    pub servers: Vec<SimServer>,
    /// Simulator handles (each keeps its server alive and lets the demo change data).
    pub handles: Vec<Box<dyn std::any::Any + Send>>,
    /// `sources:` entries per kind, as YAML list items.
    pub sources: Vec<(&'static str, String)>,
}

impl DemoSims {
    fn keep(&mut self, kind: &'static str, handle: Box<dyn std::any::Any + Send>, yaml: String) {
        self.handles.push(handle);
        self.sources.push((kind, yaml));
    }

    /// Lets every simulator's clock run on from `at` (real time shifted), so a test can run the
    /// demo on a date of its choosing instead of today's (pair it with an exporter clock
    /// running from the same instant).
    pub fn run_clocks_from(&self, at: chrono::DateTime<chrono::Utc>) {
        let offset = at - chrono::Utc::now();
        for handle in &self.handles {
            let clock = if let Some(sim) = handle.downcast_ref::<super::scc::SccSim>() {
                sim.state().clock.clone()
            } else if let Some(sim) = handle.downcast_ref::<super::tr50::Tr50Sim>() {
                sim.clock()
            } else if let Some(sim) = handle.downcast_ref::<super::aveva::AvevaSim>() {
                sim.clock()
            } else if let Some(sim) = handle.downcast_ref::<super::tencent::TencentSim>() {
                sim.with(|s| s.clock.clone())
            } else if let Some(sim) = handle.downcast_ref::<super::akana::AkanaSim>() {
                sim.clock()
            } else {
                unreachable!("a demo simulator without a clock")
            };
            clock.set_offset(offset);
        }
    }

    /// The full config file text.
    pub fn config_yaml(&self) -> String {
        let mut out = String::from("global:\n  timeout: 10s\nsources:\n");
        if self.sources.is_empty() {
            out.push_str("  {}\n");
        }
        let mut kinds: Vec<&str> = self.sources.iter().map(|(k, _)| *k).collect();
        kinds.dedup();
        for kind in kinds {
            out.push_str(&format!("  {kind}:\n"));
            for (_, item) in self.sources.iter().filter(|(k, _)| *k == kind) {
                for (i, line) in item.lines().enumerate() {
                    let lead = if i == 0 { "    - " } else { "      " };
                    out.push_str(lead);
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// Starts the simulators at the given scale.
pub async fn start(scale: u32) -> std::io::Result<DemoSims> {
    let mut sims = DemoSims {
        servers: Vec::new(),
        handles: Vec::new(),
        sources: Vec::new(),
    };
    let (scc, yaml) = super::scc::start_demo(scale).await?;
    sims.keep("scc", Box::new(scc), yaml);
    let (tr50, yaml) = super::tr50::start_demo(scale).await?;
    sims.keep("tr50", Box::new(tr50), yaml);
    let (aveva, yaml) = super::aveva::start_demo(scale).await?;
    sims.keep("aveva", Box::new(aveva), yaml);
    let (tencent, yaml) = super::tencent::start_demo(scale).await?;
    // Tencent bills Cloud Monitor calls beyond 1M a month: the demo shows the exporter's call
    // budget on it (its projection stays well below, so nothing is stretched).
    let yaml = format!("{yaml}\nmax_calls_per_month: 1000000");
    sims.keep("tencent", Box::new(tencent), yaml);
    let (akana, yaml) = super::akana::start_demo(scale).await?;
    sims.keep("akana", Box::new(akana), yaml);
    Ok(sims)
}
