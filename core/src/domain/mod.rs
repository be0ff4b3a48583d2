//! The rules of the domain, as pure data and pure functions.
//!
//! Architecture invariant: this module does no IO and reads no clock. Every threshold
//! is computed in integers; percentages are integers in hundredths of a percent and
//! only become text at the edge.

mod deadline;
mod file;
mod ids;
pub mod limits;
mod percent;
mod profile;
mod result;
mod session;
mod subject_csv;
pub mod text;
pub mod when;

pub use deadline::{deadlines, deadlines_for, Deadline, DeadlineKind};
pub use file::{
    is_hhmm, tally_from_map, AttendanceFile, BallotsFile, FileError, SessionFile, SubjectRow,
    TallyFile,
};
pub use ids::{IdError, PersonId, SessionId, SubjectId, UnitId};
pub use percent::Percent;
pub use profile::{
    BodyKind, BodyWords, Consequence, Denominator, Procedure, Profile, ProfileRules,
};
pub use result::{
    compute, conflict_vi, ExcludedSubject, Flag, Problem, SessionResult, SubjectResult,
};
pub use session::{
    Attendance, Ballots, Conflict, Entry, Exclusion, Mark, Meta, Mode, Session, Subject, Tally,
};
pub use subject_csv::{
    exclusion_from_text, subject_rows_from_csv, subjects_from_csv, CsvSubject, ACCEPTED_EXCLUSIONS,
    ACCEPTED_HEADERS,
};
