//! Cluster metadata as a replicated state machine: [`record::MetadataRecord`]s
//! appended to the metadata log, applied in order to a [`image::MetadataImage`].
//! A single node appends them to its own journal; the Raft quorum will
//! replicate the same records.

pub mod image;
pub mod record;

pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use record::{MetadataRecord, TopicId};
