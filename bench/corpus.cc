#include "bench/corpus.h"

namespace hornbeam::tools {

const std::vector<std::string>& BenchCorpus() {
  static const std::vector<std::string> corpus = {
      "A man is playing a guitar.",
      "Someone plays the guitar.",
      "The stock market fell sharply today after the central bank raised rates.",
      "How old are you?",
      "What is the best way to learn a new programming language quickly?",
      "The weather is lovely this afternoon, so we are walking to the park.",
      "I like to eat pizza with my friends on Friday nights.",
      "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
      "Please reset my password; I can no longer log in to my account.",
      "The new phone has a faster processor, a brighter screen and a longer battery life.",
      "Erlang processes are cheap, isolated and communicate only by message passing.",
      "Where is the nearest train station?",
      "She sells sea shells by the sea shore.",
      "Our quarterly revenue grew 12% year over year, driven by strong demand in Europe.",
      "The patient reported mild headaches and occasional dizziness over the past two weeks.",
      "Café au lait and a croissant, s'il vous plaît.",
      "Der schnelle braune Fuchs springt über den faulen Hund.",
      "El niño comió pan y jamón en la cocina.",
      "我爱自然语言处理。",
      "Great product, would buy again! 👍",
      "Terrible customer service, waited 45 minutes on hold.",
      "int main() { return 0; }",
      "Call me at 555-0199 before 10:00 tomorrow.",
      "The committee will meet on Tuesday to review the proposal and vote on the budget.",
      "Photosynthesis converts light energy into chemical energy stored in glucose.",
      "Can you recommend a good book about the history of the Roman Empire?",
      "The train was delayed because of a signal failure near the central station.",
      "Machine learning models need large amounts of clean, well labelled data.",
      "He forgot his umbrella and got soaked on the way home.",
      "The museum is closed on Mondays and public holidays.",
      "In 1969, Apollo 11 landed on the Moon and Neil Armstrong took the first steps.",
      "Add two cups of flour, one egg and a pinch of salt, then stir until smooth.",
      "The server returned a 503 error during the deployment of version 2.4.1.",
      "Thanks for your help yesterday, it really made a difference.",
      "Is it possible to change my flight to an earlier departure?",
      "The quick brown fox jumps over the lazy dog.",
      "Climate change is causing more frequent and intense heat waves across the globe, "
      "putting pressure on water supplies, agriculture and public health systems, and "
      "forcing cities to rethink how they design streets, buildings and green spaces.",
      "When the distributed system partitions, each side must decide whether to keep "
      "accepting writes and risk divergence, or to refuse them and lose availability; "
      "the right answer depends on what the application can tolerate and how conflicts "
      "can be reconciled after the network heals.",
      "The orchestra played Beethoven's ninth symphony to a full house.",
      "Do not forget to water the plants while I am away.",
      "Mars has two small moons, Phobos and Deimos.",
      "The invoice total is $1,249.99 including tax and shipping.",
      "Our cat likes to sleep in the sunniest spot of the living room.",
      "Please summarise the attached report in three bullet points.",
      "Traffic on the highway is heavy due to an accident near exit 12.",
      "The recipe calls for fresh basil, but dried oregano works too.",
      "Why is the sky blue?",
      "hello",
  };
  return corpus;
}

}  // namespace hornbeam::tools
