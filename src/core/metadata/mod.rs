//! Cluster metadata as a replicated state machine: [`record::MetadataRecord`]s
//! appended to the metadata log, applied in order to a [`image::MetadataImage`].
//! A single node appends them to its own journal; a cluster replicates the
//! same records through the Raft quorum, whose snapshots hold the image as
//! the records that rebuild it (`snapshot`).

pub mod image;
pub mod record;
pub mod snapshot;

pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use record::{MetadataRecord, TopicId};
