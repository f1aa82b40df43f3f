//! How a model prints its steps: one line per action and a short summary
//! of the state it led to, so a counterexample reads as a story.

use stateright::Model;

pub trait Describe: Model {
    fn describe_action(&self, action: &Self::Action) -> String;
    fn describe_state(&self, state: &Self::State) -> String;
}
