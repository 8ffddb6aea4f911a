/** The types every wizard's step components share (the restore wizard and the worker migration). */

/** One entry of the step list on the side. */
export interface WizardStepInfo {
  id: string;
  label: string;
}

/** What every step gets: the run as the server last answered it, and whether an action is in flight. */
export interface WizardStepView<V> {
  view: V;
  busy: boolean;
}

/** A step that sends the wizard's actions itself (`act` posts one and shows the new view). */
export interface WizardStepProps<V, A> extends WizardStepView<V> {
  act: (a: A) => void;
}
